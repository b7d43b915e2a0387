// Waiting, in a test, for what a server, a worker or another process does on its own: polls
// `check` until it answers a value (anything but null, undefined or false) and returns it. The
// deadline only stops a test that would otherwise hang (it fails naming `what`); it asserts
// nothing about speed.

export async function until<T>(check: () => Promise<T | null | undefined | false> | T | null | undefined | false, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== null && value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
