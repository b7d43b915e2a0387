// Client set-up over HTTPS (port 8443), from the directory and the ports the server really
// listens on:
//
//   GET  /.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=A   Thunderbird autoconfig
//   GET  /mail/config-v1.1.xml?emailaddress=A                          (the same, older path)
//   POST /autodiscover/autodiscover.xml                                Outlook-style Autodiscover (POX)
//   GET  /addressbook/v1/global.vcf                                    the offline address book, vCard 4
//
// Autoconfig is public, as Thunderbird asks before it has a password: it answers only for
// accepted domains and says %EMAILADDRESS% as the login, so it tells nobody which addresses
// exist. Autodiscover and the address book need the user's password (HTTP Basic over TLS,
// through the front-end context, so failed logins are slowed down like any other).
// The address book is regenerated only when the directory's version() moves; its ETag changes
// with it, and a client that sends If-None-Match with the current ETag gets 304 and no body.

import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorInfo, type Failure } from '../../engine/errors.js';
import type { Account, FrontEndContext, ServiceName } from '../frontend.js';

/** An Autodiscover request is a few hundred bytes; anything past this is refused with 413. */
export const autodiscoverBodyBytesMax = 16 * 1024;
/** An `Authorization` header longer than this is refused before decoding. */
export const authorizationBytesMax = 4096;
/** RFC 5321: an address is at most 254 octets. */
export const emailAddressBytesMax = 254;
/** RFC 6350 3.2: lines longer than 75 octets are folded. */
export const vcardLineBytesMax = 75;

export interface AddressBookEntry {
  readonly kind: 'user' | 'group';
  readonly address: string;
  readonly displayName: string;
  readonly aliases: readonly string[];
  /** Groups: member addresses. */
  readonly members: readonly string[];
  /** A stable id (users: the mailbox id). */
  readonly id: string;
}

/** What the address book is made from: the directory, as the server wires it. */
export interface AddressBookSource {
  /** Moves whenever the entries change. */
  version(): Promise<number>;
  entries(): Promise<AddressBookEntry[]>;
}

export interface ClientSetupOptions {
  readonly context: FrontEndContext;
  /** The ports the server listens on now (read per request: front ends bind after these routes exist). */
  readonly ports: () => Readonly<Partial<Record<ServiceName, number>>>;
  readonly addressBook: AddressBookSource;
}

// ---------------------------------------------------------------------------------------
// The endpoints a client is told about, in order of preference (implicit TLS first).

interface Endpoint {
  readonly protocol: 'imap' | 'pop3' | 'smtp';
  readonly port: number;
  readonly security: 'tls' | 'starttls';
}

export function endpointsOf(ports: Readonly<Partial<Record<ServiceName, number>>>): Endpoint[] {
  const wanted: Array<[ServiceName, Endpoint['protocol'], Endpoint['security']]> = [
    ['imaps', 'imap', 'tls'],
    ['imap', 'imap', 'starttls'],
    ['pop3s', 'pop3', 'tls'],
    ['submissions', 'smtp', 'tls'],
    ['submission', 'smtp', 'starttls'],
  ];
  const out: Endpoint[] = [];
  for (const [service, protocol, security] of wanted) {
    const port = ports[service];
    if (port !== undefined) out.push({ protocol, port, security });
  }
  return out;
}

export function xmlEscape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Thunderbird's clientConfig 1.1 (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat). */
export function thunderbirdConfig(hostname: string, domain: string, serverName: string, endpoints: readonly Endpoint[]): string {
  const server = (e: Endpoint) => {
    const tag = e.protocol === 'smtp' ? 'outgoingServer' : 'incomingServer';
    return [
      `    <${tag} type="${e.protocol}">`,
      `      <hostname>${xmlEscape(hostname)}</hostname>`,
      `      <port>${e.port}</port>`,
      `      <socketType>${e.security === 'tls' ? 'SSL' : 'STARTTLS'}</socketType>`,
      '      <authentication>password-cleartext</authentication>',
      '      <username>%EMAILADDRESS%</username>',
      `    </${tag}>`,
    ].join('\n');
  };
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<clientConfig version="1.1">',
    `  <emailProvider id="${xmlEscape(domain)}">`,
    `    <domain>${xmlEscape(domain)}</domain>`,
    `    <displayName>${xmlEscape(`Quire ${serverName} (${domain})`)}</displayName>`,
    '    <displayShortName>Quire</displayShortName>',
    ...endpoints.filter((e) => e.protocol !== 'smtp').map(server),
    ...endpoints.filter((e) => e.protocol === 'smtp').map(server),
    '  </emailProvider>',
    '</clientConfig>',
    '',
  ].join('\n');
}

const autodiscoverResponseSchema = 'http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a';

/** The Outlook POX answer ([MS-OXDSCLI] 2.2.4): one Protocol per endpoint; Encryption TLS is STARTTLS. */
export function autodiscoverResponse(hostname: string, account: Account, endpoints: readonly Endpoint[]): string {
  const protocol = (e: Endpoint) => [
    '        <Protocol>',
    `          <Type>${e.protocol.toUpperCase()}</Type>`,
    `          <Server>${xmlEscape(hostname)}</Server>`,
    `          <Port>${e.port}</Port>`,
    `          <LoginName>${xmlEscape(account.address)}</LoginName>`,
    '          <DomainRequired>off</DomainRequired>',
    '          <SPA>off</SPA>',
    `          <SSL>on</SSL>`,
    `          <Encryption>${e.security === 'tls' ? 'SSL' : 'TLS'}</Encryption>`,
    '          <AuthRequired>on</AuthRequired>',
    ...(e.protocol === 'smtp' ? ['          <UsePOPAuth>off</UsePOPAuth>', '          <SMTPLast>off</SMTPLast>'] : []),
    '        </Protocol>',
  ].join('\n');
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">',
    `  <Response xmlns="${autodiscoverResponseSchema}">`,
    '    <User>',
    `      <DisplayName>${xmlEscape(account.displayName)}</DisplayName>`,
    `      <AutoDiscoverSMTPAddress>${xmlEscape(account.address)}</AutoDiscoverSMTPAddress>`,
    '    </User>',
    '    <Account>',
    '      <AccountType>email</AccountType>',
    '      <Action>settings</Action>',
    ...endpoints.map(protocol),
    '    </Account>',
    '  </Response>',
    '</Autodiscover>',
    '',
  ].join('\n');
}

/** The Autodiscover error answer ([MS-OXDSCLI] 2.2.4.2.1): 500 = no such address, 600 = invalid request. */
export function autodiscoverError(code: 500 | 600, message: string): string {
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">',
    '  <Response>',
    `    <Error Time="00:00:00" Id="0">`,
    `      <ErrorCode>${code}</ErrorCode>`,
    `      <Message>${xmlEscape(message)}</Message>`,
    '    </Error>',
    '  </Response>',
    '</Autodiscover>',
    '',
  ].join('\n');
}

/** The two fields an Autodiscover request carries; null when it is not one. */
export function parseAutodiscoverRequest(body: string): { emailAddress: string; schema: string } | null {
  const email = /<EMailAddress>\s*([^<\s]{1,254})\s*<\/EMailAddress>/i.exec(body);
  const schema = /<AcceptableResponseSchema>\s*([^<\s]{1,200})\s*<\/AcceptableResponseSchema>/i.exec(body);
  if (email === null || schema === null) return null;
  return { emailAddress: email[1]!, schema: schema[1]! };
}

// ---------------------------------------------------------------------------------------
// vCard 4 (RFC 6350)

/** RFC 6350 3.4: backslash, comma, semicolon and newlines escaped in text values. */
export function vcardText(text: string): string {
  return text.replace(/[\\,;]/g, (c) => `\\${c}`).replace(/\r\n|\r|\n/g, '\\n');
}

/** RFC 6350 3.2: lines over 75 octets folded (CRLF + space), never inside a UTF-8 sequence. */
export function vcardFold(line: string): string {
  const bytes = Buffer.from(line, 'utf8');
  if (bytes.length <= vcardLineBytesMax) return line;
  const pieces: string[] = [];
  let start = 0;
  let limit = vcardLineBytesMax;
  while (start < bytes.length) {
    let end = Math.min(bytes.length, start + limit);
    // Back off to the start of a UTF-8 sequence (continuation bytes are 10xxxxxx).
    while (end < bytes.length && (bytes[end]! & 0xc0) === 0x80) end--;
    pieces.push(bytes.subarray(start, end).toString('utf8'));
    start = end;
    limit = vcardLineBytesMax - 1; // continuation lines start with the folding space
  }
  return pieces.join('\r\n ');
}

function uuidOf(id: string): string {
  const hex = /^[0-9a-f]{32}$/.test(id) ? id : createHash('sha256').update(id).digest('hex').slice(0, 32);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

export function vcards(entries: readonly AddressBookEntry[]): string {
  const lines: string[] = [];
  for (const entry of [...entries].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0))) {
    lines.push('BEGIN:VCARD', 'VERSION:4.0', `UID:urn:uuid:${uuidOf(entry.id)}`, `KIND:${entry.kind === 'user' ? 'individual' : 'group'}`);
    lines.push(`FN:${vcardText(entry.displayName)}`);
    lines.push(`EMAIL;TYPE=work;PREF=1:${vcardText(entry.address)}`);
    for (const alias of entry.aliases) lines.push(`EMAIL;TYPE=work:${vcardText(alias)}`);
    for (const member of entry.members) lines.push(`MEMBER:mailto:${member}`);
    lines.push('END:VCARD');
  }
  return lines.map(vcardFold).map((line) => `${line}\r\n`).join('');
}

// ---------------------------------------------------------------------------------------
// Routes

/** The address of an `emailaddress` parameter, lower-cased, and its domain; null when it is not one. */
export function addressParts(input: unknown): { address: string; domain: string } | null {
  if (typeof input !== 'string' || input.length === 0 || Buffer.byteLength(input) > emailAddressBytesMax) return null;
  const address = input.trim().toLowerCase();
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1 || /[\s<>"]/.test(address)) return null;
  return { address, domain: address.slice(at + 1) };
}

function sendFailure(reply: FastifyReply, failure: Failure): FastifyReply {
  const info = errorInfo(failure.code);
  if (info.retriable) reply.header('retry-after', '30');
  return reply.code(info.http).type('application/json').send({ error: failure.code, message: failure.message });
}

/** HTTP Basic credentials from an Authorization header, or null when absent, malformed or longer than authorizationBytesMax. */
export function basicCredentials(header: string | undefined): { login: string; password: string } | null {
  if (typeof header !== 'string' || header.length > authorizationBytesMax || !/^Basic /i.test(header)) return null;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return null;
  return { login: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The logged-in account, or the reply already sent (401, or 503 when the directory is down). */
async function logIn(context: FrontEndContext, request: FastifyRequest, reply: FastifyReply): Promise<Account | null> {
  const credentials = basicCredentials(request.headers.authorization);
  if (credentials !== null) {
    // 'jmap': the HTTPS front end's protocol name for the slow-down and the metrics.
    const account = await context.authenticate(credentials.login, credentials.password, { protocol: 'jmap', address: request.ip });
    if (account.ok) return account.value;
    if (account.code !== 'AUTHENTICATION_FAILED') {
      await sendFailure(reply, account);
      return null;
    }
  }
  await reply.code(401).header('www-authenticate', 'Basic realm="quire", charset="UTF-8"').type('application/json').send({ error: 'AUTHENTICATION_FAILED', message: 'user name and password required' });
  return null;
}

interface CachedBook {
  readonly version: number;
  readonly body: string;
  readonly etag: string;
}

export function clientSetupRoutes(options: ClientSetupOptions): (https: FastifyInstance) => Promise<void> {
  const { context } = options;
  let book: CachedBook | null = null;
  let building: Promise<CachedBook> | null = null;

  const currentBook = async (): Promise<CachedBook> => {
    const version = await options.addressBook.version();
    if (book !== null && book.version === version) return book;
    building ??= (async () => {
      const body = vcards(await options.addressBook.entries());
      const etag = `"${version}-${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`;
      book = { version, body, etag };
      return book;
    })().finally(() => {
      building = null;
    });
    return building;
  };

  return async (https) => {
    https.addContentTypeParser(['text/xml', 'application/xml'], { parseAs: 'string', bodyLimit: autodiscoverBodyBytesMax }, (_request, body, done) => done(null, body));

    const thunderbird = async (request: FastifyRequest<{ Querystring: { emailaddress?: unknown } }>, reply: FastifyReply) => {
      const parts = addressParts(request.query.emailaddress);
      if (parts === null) return reply.code(400).type('application/json').send({ error: 'INVALID_ARGUMENT', message: 'emailaddress=local@domain is required' });
      const accepted = await context.isAcceptedDomain(parts.domain);
      if (!accepted.ok) return sendFailure(reply, accepted);
      if (!accepted.value) return reply.code(404).type('application/json').send({ error: 'NO_SUCH_USER', message: `${parts.domain} is not a domain of this server` });
      return reply.type('application/xml; charset=utf-8').send(thunderbirdConfig(context.hostname, parts.domain, context.serverName, endpointsOf(options.ports())));
    };
    https.get('/.well-known/autoconfig/mail/config-v1.1.xml', thunderbird);
    https.get('/mail/config-v1.1.xml', thunderbird);

    const autodiscover = async (request: FastifyRequest, reply: FastifyReply) => {
      const account = await logIn(context, request, reply);
      if (account === null) return reply;
      const parsed = typeof request.body === 'string' ? parseAutodiscoverRequest(request.body) : null;
      reply.type('text/xml; charset=utf-8');
      if (parsed === null || parsed.schema !== autodiscoverResponseSchema) {
        return reply.send(autodiscoverError(600, `Invalid Request: this server answers ${autodiscoverResponseSchema} requests`));
      }
      const asked = parsed.emailAddress.toLowerCase();
      if (asked !== account.address && !account.aliases.includes(asked)) {
        return reply.send(autodiscoverError(500, 'The e-mail address cannot be found.'));
      }
      return reply.send(autodiscoverResponse(context.hostname, account, endpointsOf(options.ports())));
    };
    https.post('/autodiscover/autodiscover.xml', autodiscover);
    https.post('/Autodiscover/Autodiscover.xml', autodiscover);

    https.get('/addressbook/v1/global.vcf', async (request, reply) => {
      const account = await logIn(context, request, reply);
      if (account === null) return reply;
      let current: CachedBook;
      try {
        current = await currentBook();
      } catch (error) {
        return sendFailure(reply, { ok: false, code: 'DIRECTORY_UNAVAILABLE', message: `the address book cannot be made now: ${(error as Error).message}` });
      }
      reply.header('etag', current.etag).header('cache-control', 'private, no-cache').header('x-quire-directory-version', String(current.version));
      const match = request.headers['if-none-match'];
      if (typeof match === 'string' && match.split(',').some((tag) => tag.trim() === current.etag)) return reply.code(304).send();
      return reply.type('text/vcard; charset=utf-8').send(current.body);
    });
  };
}
