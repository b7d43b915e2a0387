import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import zlib from 'node:zlib';
import { once } from 'node:events';
import selfsigned from 'selfsigned';
import { type Connection, listen } from './connection.js';

const pems = selfsigned.generate([{ name: 'commonName', value: 'localhost' }], { keySize: 2048, days: 1 });
const identity = { cert: pems.cert, key: pems.private };
const limits = { connectionsPerAddress: 2, connectionsPerPort: 3, idleMs: 60_000 };

/** A tiny line protocol: "STARTTLS" upgrades, "COMPRESS" deflates, anything else is echoed. */
function serve(connection: Connection): void {
  void connection.write('* ready\r\n');
  connection.onData(async (chunk) => {
    const line = chunk.toString().trim();
    if (line === 'STARTTLS') {
      await connection.write('OK begin TLS\r\n');
      if (await connection.startTls()) await connection.write(`* secure ${connection.secure}\r\n`);
    } else if (line === 'COMPRESS') {
      await connection.write('OK deflate\r\n');
      connection.startCompression();
    } else if (line === 'QUIT') {
      connection.close('* bye\r\n');
    } else {
      await connection.write(`echo ${line}\r\n`);
    }
  });
}

function reader(stream: NodeJS.ReadableStream): () => Promise<string> {
  let buffered = '';
  const waiting: Array<() => void> = [];
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    for (const wake of waiting.splice(0)) wake();
  });
  return async () => {
    while (!buffered.includes('\r\n')) await new Promise<void>((resolve) => waiting.push(resolve));
    const end = buffered.indexOf('\r\n');
    const line = buffered.slice(0, end);
    buffered = buffered.slice(end + 2);
    return line;
  };
}

test('a plain connection upgrades with STARTTLS, then compresses, and closes with a farewell', async () => {
  const listener = await listen({ host: '127.0.0.1', port: 0, implicitTls: false, tls: identity, limits, onConnection: serve, refusal: () => Buffer.from('* BYE busy\r\n') });
  try {
    const plain = net.connect(listener.port, '127.0.0.1');
    const readPlain = reader(plain);
    assert.equal(await readPlain(), '* ready');
    plain.write('STARTTLS\r\n');
    assert.equal(await readPlain(), 'OK begin TLS');
    const secured = tls.connect({ socket: plain, rejectUnauthorized: false, servername: 'localhost' });
    await once(secured, 'secureConnect');
    const read = reader(secured);
    assert.equal(await read(), '* secure true');
    secured.write('hello\r\n');
    assert.equal(await read(), 'echo hello');
    secured.write('COMPRESS\r\n');
    assert.equal(await read(), 'OK deflate');
    secured.removeAllListeners('data');
    const inflate = zlib.createInflateRaw();
    const deflate = zlib.createDeflateRaw();
    secured.on('data', (chunk) => inflate.write(chunk));
    deflate.on('data', (chunk) => secured.write(chunk));
    const readCompressed = reader(inflate);
    deflate.write('squeezed\r\n');
    deflate.flush(zlib.constants.Z_SYNC_FLUSH);
    assert.equal(await readCompressed(), 'echo squeezed');
    deflate.write('QUIT\r\n');
    deflate.flush(zlib.constants.Z_SYNC_FLUSH);
    assert.equal(await readCompressed(), '* bye', 'the farewell survives the compression layer');
    secured.destroy();
  } finally {
    await listener.close();
  }
});

test('connection caps: at the per-address limit connections are served, limit + 1 gets the refusal', async () => {
  const listener = await listen({ host: '127.0.0.1', port: 0, implicitTls: true, tls: identity, limits, onConnection: serve, refusal: (why) => Buffer.from(`* BYE too many (${why})\r\n`) });
  try {
    const open = async (): Promise<{ socket: tls.TLSSocket; read: () => Promise<string> }> => {
      const socket = tls.connect({ port: listener.port, host: '127.0.0.1', rejectUnauthorized: false });
      const read = reader(socket);
      return { socket, read };
    };
    const a = await open();
    const b = await open();
    assert.equal(await a.read(), '* ready');
    assert.equal(await b.read(), '* ready');
    const c = await open();
    assert.equal(await c.read(), '* BYE too many (address)');
    a.socket.write('QUIT\r\n');
    assert.equal(await a.read(), '* bye');
    await once(a.socket, 'close');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const d = await open();
    assert.equal(await d.read(), '* ready', 'a closed connection frees its place');
    for (const s of [b, c, d]) s.socket.destroy();
  } finally {
    await listener.close(Buffer.from('* BYE shutting down\r\n'));
  }
});

test('an idle connection is handed to the idle hook', async () => {
  const listener = await listen({
    host: '127.0.0.1',
    port: 0,
    implicitTls: false,
    tls: identity,
    limits: { ...limits, idleMs: 100 },
    onConnection: (connection) => {
      connection.onIdle(() => connection.close('* BYE autologout\r\n'));
      void connection.write('* ready\r\n');
    },
    refusal: () => Buffer.alloc(0),
  });
  try {
    const socket = net.connect(listener.port, '127.0.0.1');
    const read = reader(socket);
    assert.equal(await read(), '* ready');
    assert.equal(await read(), '* BYE autologout');
    await once(socket, 'close');
  } finally {
    await listener.close();
  }
});
