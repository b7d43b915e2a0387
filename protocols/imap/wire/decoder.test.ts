// Proves the receive state machine assembles commands across any chunking, drives literal flow
// control (sync `+`, LITERAL+, literal8), holds every cap at limit and limit + 1 with a typed
// error carrying the tag, and resynchronises after an error so the next command still decodes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultWireLimits, type WireLimits } from './constants.js';
import { ImapDecoder, findLiteralMarker, type DecoderEvent } from './decoder.js';
import { decodeChunks, splitEvery } from './testing.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const small: WireLimits = { lineBytesMax: 64, literalBytesMax: 32, literalsPerCommandMax: 3, commandBytesMax: 100, parseDepthMax: 4 };

function run(text: string, limits: WireLimits = small, piece?: number): DecoderEvent[] {
  const bytes = b(text);
  return decodeChunks(piece === undefined ? [bytes] : splitEvery(bytes, piece), new ImapDecoder(limits));
}

function summary(events: DecoderEvent[]): string[] {
  return events.map((e) => {
    switch (e.kind) {
      case 'command':
        return `cmd ${e.command.tag} ${e.command.name} ${JSON.stringify(Buffer.from(e.command.args).toString('latin1'))}`;
      case 'continue':
        return `+ ${e.tag} ${e.literalBytes}`;
      case 'line':
        return `line ${Buffer.from(e.line).toString('latin1')}`;
      case 'error':
        return `err ${e.error.code} ${e.error.tag ?? '*'}`;
    }
  });
}

/** Same events for every chunking: whole, 1, 3 and 17 bytes. */
function runAll(text: string, limits: WireLimits = small): string[] {
  const whole = summary(run(text, limits));
  for (const piece of [1, 3, 17]) assert.deepEqual(summary(run(text, limits, piece)), whole, `${piece}-byte pieces`);
  return whole;
}

test('simple commands, bare LF, empty lines and pipelining', () => {
  assert.deepEqual(runAll('a1 NOOP\r\n\r\na2 login x y\na3 uid fetch 1 flags\r\n'), [
    'cmd a1 NOOP ""',
    'cmd a2 LOGIN "x y"',
    'cmd a3 UID "fetch 1 flags"',
  ]);
});

test('sync literal asks for a continuation; LITERAL+ and literal8 do not', () => {
  assert.deepEqual(runAll('a LOGIN {3}\r\nabc {2+}\r\nde\r\nb APPEND x ~{4}\r\n\0\r\n\0\r\n'), [
    '+ a 3',
    'cmd a LOGIN "{3}\\r\\nabc {2+}\\r\\nde"',
    '+ b 4',
    'cmd b APPEND "x ~{4}\\r\\n\\u0000\\r\\n\\u0000"',
  ]);
  assert.deepEqual(findLiteralMarker(b('x ~{12+}')), { bytes: 12, sync: false, binary: true, markerBytes: 6 });
  assert.equal(findLiteralMarker(b('x {}')), undefined);
  assert.equal(findLiteralMarker(b('x 12}')), undefined);
});

test('refuseLiteral: the session said NO instead of +, the next line is a new command', () => {
  const decoder = new ImapDecoder(small);
  decoder.push(b('a APPEND x {10}\r\nb NOOP\r\n'));
  const first = decoder.next();
  assert.equal(first?.kind, 'continue');
  decoder.refuseLiteral();
  assert.deepEqual(summary([decoder.next()!]), ['cmd b NOOP ""']);
});

test('lineBytesMax: at the limit decodes, one more is line-too-long with the tag, then resync', () => {
  // The line with CRLF is exactly 64 bytes.
  const at = 'a1 X ' + 'y'.repeat(64 - 5 - 2);
  assert.equal(at.length + 2, small.lineBytesMax);
  assert.deepEqual(runAll(`${at}\r\nz NOOP\r\n`), [`cmd a1 X "${'y'.repeat(57)}"`, 'cmd z NOOP ""']);
  assert.deepEqual(runAll(`${at}y\r\nz NOOP\r\n`), ['err line-too-long a1', 'cmd z NOOP ""']);
  // Overlong with no tag readable: untagged.
  assert.deepEqual(runAll(`${'('.repeat(100)}\r\nz NOOP\r\n`), ['err line-too-long *', 'cmd z NOOP ""']);
});

test('lineBytesMax counts all text segments of a command, not literals', () => {
  const ok = 'a X {30+}\r\n' + 'L'.repeat(30) + ' ' + 'y'.repeat(64 - 11 - 3) + '\r\n';
  assert.deepEqual(runAll(ok).map((s) => s.slice(0, 9)), ['cmd a X "']);
  const over = 'a X {30+}\r\n' + 'L'.repeat(30) + ' ' + 'y'.repeat(64 - 11 - 2) + '\r\nz NOOP\r\n';
  assert.deepEqual(runAll(over), ['err line-too-long a', 'cmd z NOOP ""']);
});

test('an overlong line ending in a non-sync literal skips the literal too', () => {
  const text = `a X ${'y'.repeat(80)} {5+}\r\nz BAD\r\nz NOOP\r\n`;
  assert.deepEqual(runAll(text), ['err line-too-long a', 'cmd z NOOP ""']);
});

test('literalBytesMax: sync at the limit continues; one more is literal-too-big, unread', () => {
  assert.deepEqual(runAll(`a APPEND x {32}\r\n${'m'.repeat(32)}\r\n`).slice(0, 1), ['+ a 32']);
  const events = run('a APPEND x {33}\r\nz NOOP\r\n');
  assert.deepEqual(summary(events), ['err literal-too-big a', 'cmd z NOOP ""']);
  const e = events[0]!;
  assert.ok(e.kind === 'error' && e.error.literalSync === true && e.error.name === 'APPEND');
});

test('literalBytesMax: an oversize LITERAL+ literal is read past and dropped', () => {
  assert.deepEqual(runAll(`a APPEND x {33+}\r\n${'m'.repeat(33)}\r\nz NOOP\r\n`), ['err literal-too-big a', 'cmd z NOOP ""']);
  // …and the text after the skipped literal, up to the end of the line, goes with it.
  assert.deepEqual(runAll(`a APPEND x {33+}\r\n${'m'.repeat(33)} more {2+}\r\nzz\r\nz NOOP\r\n`), ['err literal-too-big a', 'cmd z NOOP ""']);
});

test('default limits: literal at 64 MiB is accepted, 64 MiB + 1 refused (markers only)', () => {
  const max = defaultWireLimits.literalBytesMax;
  assert.deepEqual(summary(run(`a APPEND x {${max}}\r\n`, defaultWireLimits)), [`+ a ${max}`]);
  assert.deepEqual(summary(run(`a APPEND x {${max + 1}}\r\n`, defaultWireLimits)), ['err literal-too-big a']);
  const line = 'a X ' + 'y'.repeat(defaultWireLimits.lineBytesMax - 6);
  assert.deepEqual(summary(run(`${line}\r\n`, defaultWireLimits)).map((s) => s.slice(0, 8)), ['cmd a X ']);
  assert.deepEqual(summary(run(`${line}y\r\n`, defaultWireLimits)), ['err line-too-long a']);
});

test('literalsPerCommandMax: 3 literals decode, the 4th is too-many-literals', () => {
  assert.deepEqual(runAll('a X {1+}\r\n1 {1+}\r\n2 {1+}\r\n3\r\n').length, 1);
  assert.deepEqual(runAll('a X {1+}\r\n1 {1+}\r\n2 {1+}\r\n3 {1+}\r\n4\r\nz NOOP\r\n'), ['err too-many-literals a', 'cmd z NOOP ""']);
});

test('commandBytesMax: text plus literals at the limit decodes, one more is command-too-big', () => {
  // 'a X {32+}\r\n' (11) + 32 + ' {32+}\r\n' (8) + 32 + ' ' + pad + CRLF = 100
  const head = 'a X {32+}\r\n' + 'm'.repeat(32) + ' {32+}\r\n' + 'n'.repeat(32) + ' ';
  const pad = 100 - head.length - 2;
  assert.deepEqual(runAll(head + 'p'.repeat(pad) + '\r\n').map((s) => s.slice(0, 9)), ['cmd a X "']);
  assert.deepEqual(runAll(head + 'p'.repeat(pad + 1) + '\r\nz NOOP\r\n'), ['err command-too-big a', 'cmd z NOOP ""']);
  // A literal that would cross the limit is refused at its marker.
  assert.deepEqual(runAll('a X {32+}\r\n' + 'm'.repeat(32) + ' {32+}\r\n' + 'n'.repeat(32) + ' {30}\r\nz NOOP\r\n'), [
    'err command-too-big a',
    'cmd z NOOP ""',
  ]);
});

test('bad tags and missing command names', () => {
  assert.deepEqual(runAll('+ NOOP\r\n* NOOP\r\na\r\nab{ NOOP\r\nz NOOP\r\n'), [
    'err bad-tag *',
    'err bad-tag *',
    'err missing-command a',
    'err bad-tag *',
    'cmd z NOOP ""',
  ]);
  // A garbage line that ends in a LITERAL+ marker: its literal must not be read as a command.
  assert.deepEqual(runAll('( {6+}\r\nz BAD\r\nz NOOP\r\n'), ['err bad-tag *', 'cmd z NOOP ""']);
});

test('line mode yields raw lines for SASL and IDLE; discardPending drops buffered input', () => {
  const decoder = new ImapDecoder(small);
  decoder.push(b('a AUTHENTICATE PLAIN\r\nAGZyZWQAeA==\r\n{5}\r\nb NOOP\r\n'));
  assert.equal(decoder.next()?.kind, 'command');
  decoder.setMode('line');
  assert.deepEqual(summary([decoder.next()!, decoder.next()!]), ['line AGZyZWQAeA==', 'line {5}']);
  decoder.setMode('command');
  assert.deepEqual(summary([decoder.next()!]), ['cmd b NOOP ""']);
  decoder.push(b('c STARTTLS\r\nd LOGIN injected x\r\n'));
  assert.equal(decoder.next()?.kind, 'command');
  assert.equal(decoder.discardPending(), 'd LOGIN injected x\r\n'.length);
  assert.equal(decoder.next(), null);
  assert.ok(decoder.isIdle());
});

test('memory stays bounded: a 4 MiB line without LF keeps only the skip tail', () => {
  const decoder = new ImapDecoder(small);
  const junk = Buffer.alloc(64 * 1024, 0x61);
  let errors = 0;
  for (let i = 0; i < 64; i++) {
    decoder.push(junk);
    for (let e = decoder.next(); e !== null; e = decoder.next()) errors += e.kind === 'error' ? 1 : 0;
    assert.equal(decoder.pendingBytes(), 0);
  }
  assert.equal(errors, 1);
  decoder.push(b('\r\nz NOOP\r\n'));
  assert.deepEqual(summary([decoder.next()!]), ['cmd z NOOP ""']);
});
