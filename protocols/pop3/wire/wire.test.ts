// Proves the POP3 wire layer: RFC 1939/2449/2595/5034 example commands parse the same whole and
// split at every byte, lines are capped at commandBytesMax (255 with CRLF) at limit and
// limit + 1 with resync, responses carry RFC 2449/3206 codes, and dot-stuffing is right even
// when a CRLF and the dot after it fall in different chunks.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commandBytesMax, saslLineBytesMax } from './constants.js';
import { Pop3Decoder } from './decoder.js';
import { DotStuffer, dotStuff, encodeCapa, encodeErr, encodeMultiline, encodeOk, encodeSaslChallenge } from './encoder.js';
import { decodeSaslResponse, parsePop3Command, type Pop3ParseResult } from './parser.js';

const examples: readonly [string, unknown][] = [
  ['USER frated', { kind: 'USER', name: 'frated' }],
  ['USER mrose', { kind: 'USER', name: 'mrose' }],
  ['PASS secret', { kind: 'PASS', password: 'secret' }],
  ['PASS with spaces  inside', { kind: 'PASS', password: 'with spaces  inside' }],
  ['APOP mrose c4c9334bac560ecc979e58001b3e22fb', { kind: 'APOP', name: 'mrose', digest: 'c4c9334bac560ecc979e58001b3e22fb' }],
  ['STAT', { kind: 'STAT' }],
  ['LIST', { kind: 'LIST', message: undefined }],
  ['LIST 2', { kind: 'LIST', message: 2 }],
  ['RETR 1', { kind: 'RETR', message: 1 }],
  ['DELE 1', { kind: 'DELE', message: 1 }],
  ['NOOP', { kind: 'NOOP' }],
  ['RSET', { kind: 'RSET' }],
  ['QUIT', { kind: 'QUIT' }],
  ['TOP 1 10', { kind: 'TOP', message: 1, lines: 10 }],
  ['TOP 100 0', { kind: 'TOP', message: 100, lines: 0 }],
  ['UIDL', { kind: 'UIDL', message: undefined }],
  ['uidl 2', { kind: 'UIDL', message: 2 }],
  ['CAPA', { kind: 'CAPA' }],
  ['STLS', { kind: 'STLS' }],
  ['AUTH', { kind: 'AUTH', mechanism: undefined, initialResponse: undefined }],
  ['AUTH GSSAPI', { kind: 'AUTH', mechanism: 'GSSAPI', initialResponse: undefined }],
  ['AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=', { kind: 'AUTH', mechanism: 'PLAIN', initialResponse: new Uint8Array(Buffer.from('test\0test\0test')) }],
  ['AUTH EXTERNAL =', { kind: 'AUTH', mechanism: 'EXTERNAL', initialResponse: new Uint8Array(0) }],
];

function lines(input: Buffer, piece: number, decoder = new Pop3Decoder()): string[] {
  const out: string[] = [];
  for (let i = 0; i < input.length; i += piece) {
    decoder.push(input.subarray(i, i + piece));
    for (let e = decoder.next(); e !== null; e = decoder.next()) out.push(e.kind === 'line' ? `line ${Buffer.from(e.line).toString('latin1')}` : `error ${e.code}`);
  }
  return out;
}

test('RFC example commands parse, whole and split at every byte', () => {
  for (const [text, expected] of examples) {
    const bytes = Buffer.from(text + '\r\n');
    for (let cut = 0; cut <= bytes.length; cut++) {
      const decoder = new Pop3Decoder();
      decoder.push(bytes.subarray(0, cut));
      decoder.push(bytes.subarray(cut));
      const e = decoder.next();
      assert.ok(e !== null && e.kind === 'line', text);
      const r = parsePop3Command(e.line);
      assert.ok(r.ok, `${text}: ${JSON.stringify(r)}`);
      assert.deepEqual(r.command, expected, text);
    }
  }
});

test('bad commands are typed errors', () => {
  const code = (text: string): string => {
    const r: Pop3ParseResult = parsePop3Command(Buffer.from(text));
    assert.ok(!r.ok, text);
    return r.code;
  };
  assert.equal(code('FROB'), 'unknown-command');
  assert.equal(code('RETR'), 'syntax');
  assert.equal(code('RETR 0'), 'number-range');
  assert.equal(code('RETR 4294967296'), 'number-range');
  assert.equal(code('RETR x'), 'number-range');
  assert.equal(code('TOP 1'), 'syntax');
  assert.equal(code('STAT 1'), 'syntax');
  assert.equal(code('LIST  1'), 'syntax');
  assert.equal(code('PASS'), 'syntax');
  assert.equal(code('APOP mrose nothex'), 'syntax');
  assert.equal(code('AUTH PLAIN !!!'), 'syntax');
  assert.equal(code('USER ' + 'x'.repeat(41)), 'argument-too-long');
  assert.ok(parsePop3Command(Buffer.from('USER ' + 'x'.repeat(40))).ok);
});

test('commandBytesMax: 255 octets with CRLF decode, 256 is an error, then resync', () => {
  const at = 'PASS ' + 'p'.repeat(commandBytesMax - 5 - 2);
  assert.equal(Buffer.byteLength(at) + 2, commandBytesMax);
  for (const piece of [1, 3, 17, 1000]) {
    assert.deepEqual(lines(Buffer.from(`${at}\r\nNOOP\r\n`), piece), [`line ${at}`, 'line NOOP']);
    assert.deepEqual(lines(Buffer.from(`${at}p\r\nNOOP\r\n`), piece), ['error line-too-long', 'line NOOP']);
  }
  // SASL lines get their own cap.
  const decoder = new Pop3Decoder();
  decoder.setLineBytesMax(saslLineBytesMax);
  const sasl = 'A'.repeat(saslLineBytesMax - 2);
  assert.deepEqual(lines(Buffer.from(`${sasl}\r\n${sasl}A\r\nNOOP\r\n`), 4096, decoder), [`line ${sasl}`, 'error line-too-long', 'line NOOP']);
});

test('SASL continuation lines', () => {
  assert.equal(decodeSaslResponse('*'), 'cancel');
  assert.deepEqual(decodeSaslResponse('='), new Uint8Array(0));
  assert.deepEqual(decodeSaslResponse('AGZyZWQ='), new Uint8Array(Buffer.from('\0fred')));
  assert.equal(decodeSaslResponse('AGZyZWQ'), undefined);
  assert.equal(decodeSaslResponse(''), undefined);
  assert.equal(encodeSaslChallenge(new Uint8Array(0)).toString(), '+ \r\n');
});

test('status lines with response codes and no line breaks in text', () => {
  assert.equal(encodeOk('maildrop has 2 messages (320 octets)').toString(), '+OK maildrop has 2 messages (320 octets)\r\n');
  assert.equal(encodeErr('invalid password', 'AUTH').toString(), '-ERR [AUTH] invalid password\r\n');
  assert.equal(encodeErr('maildrop locked', 'IN-USE').toString(), '-ERR [IN-USE] maildrop locked\r\n');
  assert.equal(encodeErr('wait', 'LOGIN-DELAY').toString(), '-ERR [LOGIN-DELAY] wait\r\n');
  assert.equal(encodeErr('try later', 'SYS/TEMP').toString(), '-ERR [SYS/TEMP] try later\r\n');
  assert.equal(encodeErr('gone', 'SYS/PERM').toString(), '-ERR [SYS/PERM] gone\r\n');
  assert.equal(encodeErr('a\r\n+OK b').toString(), '-ERR a  +OK b\r\n');
});

test('multi-line responses and CAPA are dot-stuffed and terminated', () => {
  assert.equal(encodeMultiline('2 messages', ['1 120', '.hidden', '2 200']).toString(), '+OK 2 messages\r\n1 120\r\n..hidden\r\n2 200\r\n.\r\n');
  assert.equal(encodeCapa(['TOP', 'UIDL', 'SASL PLAIN', 'STLS']).toString(), '+OK Capability list follows\r\nTOP\r\nUIDL\r\nSASL PLAIN\r\nSTLS\r\n.\r\n');
});

test('streaming dot-stuffer gives the same bytes for every chunking', () => {
  const body = Buffer.from('.starts with dot\r\nline\r\n.\r\n..two\r\nend without crlf.');
  const expected = '..starts with dot\r\nline\r\n..\r\n...two\r\nend without crlf.\r\n.\r\n';
  assert.equal(dotStuff(body).toString(), expected);
  for (let cut = 0; cut <= body.length; cut++) {
    const stuffer = new DotStuffer();
    const out = Buffer.concat([stuffer.transform(body.subarray(0, cut)), stuffer.transform(body.subarray(cut)), stuffer.end()]);
    assert.equal(out.toString(), expected, `cut at ${cut}`);
  }
  for (const piece of [1, 3, 17]) {
    const stuffer = new DotStuffer();
    const parts: Buffer[] = [];
    for (let i = 0; i < body.length; i += piece) parts.push(stuffer.transform(body.subarray(i, i + piece)));
    parts.push(stuffer.end());
    assert.equal(Buffer.concat(parts).toString(), expected, `${piece}-byte pieces`);
  }
  assert.equal(dotStuff(Buffer.alloc(0)).toString(), '.\r\n');
  assert.equal(dotStuff(Buffer.from('x\r\n')).toString(), 'x\r\n.\r\n');
});
