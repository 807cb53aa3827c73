/** The capacity sweep adds no config fields to the common ones (src/config/schema.ts). */
import type { z } from 'zod';

export const CAPACITY_OPTIONS = {} satisfies z.ZodRawShape;
