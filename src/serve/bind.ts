/** Where the server may listen: off this machine only with a token (the address is resolved, not compared as text). */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/** Whether an IP address is a loopback one: 127.0.0.0/8, ::1, or IPv4-mapped 127.x. */
export function isLoopback(address: string): boolean {
  const a = address.toLowerCase().replace(/^\[|\]$/g, '');
  if (isIP(a) === 4) return a.startsWith('127.');
  if (a === '::1' || a === '0:0:0:0:0:0:0:1') return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  return mapped !== null && mapped[1].startsWith('127.');
}

/**
 * Resolves `host` as the listener will (every address it names) and refuses a host that reaches beyond this machine
 * when there is no token. Returns the addresses.
 */
export async function checkBind(host: string, token: string | undefined): Promise<string[]> {
  let addresses: string[];
  try {
    addresses = (await lookup(host.replace(/^\[|\]$/g, ''), { all: true, verbatim: true })).map((a) => a.address);
  } catch (e) {
    throw new Error(
      `--host ${host} does not resolve to an address (${(e as Error).message}); ` +
        'give an IP address or a host name of this machine',
    );
  }
  const open = addresses.filter((a) => !isLoopback(a));
  if (open.length > 0 && !token) {
    throw new Error(
      `--host ${host} (${open.join(', ')}) is reachable from other machines, and there is no --token: ` +
        'anyone there could read and write every memory; pass --token <secret> (or $CRAM_SERVE_TOKEN), ' +
        'or bind a loopback address such as 127.0.0.1',
    );
  }
  return addresses;
}
