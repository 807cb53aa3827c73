/** Placeholder: replaced by the wasm speed fixes (threads in Node, transposed/batched BatchMatMul, shared Identity). */
export async function installWasmFixes(): Promise<string> {
  return 'stock tfjs-backend-wasm';
}
