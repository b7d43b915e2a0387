// Run by jam.test.ts in a child process (NODE_EXTRA_CA_CERTS makes its fetch trust the test
// server's certificate): drives Quire's JMAP with jmap-jam, an independent client from npm, and
// prints what it saw as one JSON line. Jam sends only Bearer tokens; Quire's JMAP takes HTTP
// Basic, so the client's fetch is wrapped to present the same credential as Basic.

// Loaded by a name in a variable: jmap-jam's type declarations import .ts sources our tsc settings refuse.
const jamModule = 'jmap-jam';
const { default: JamClient } = (await import(jamModule)) as { default: new (options: { sessionUrl: string; bearerToken: string }) => any };

const [sessionUrl, login, password] = process.argv.slice(2) as [string, string, string];
const basic = `Basic ${Buffer.from(`${login}:${password}`).toString('base64')}`;
const realFetch = globalThis.fetch;
globalThis.fetch = ((input: RequestInfo | URL, init: RequestInit = {}) => {
  const headers = new Headers(init.headers);
  if (headers.get('authorization')?.startsWith('Bearer ')) headers.set('authorization', basic);
  return realFetch(input, { ...init, headers });
}) as typeof fetch;

async function main(): Promise<void> {
  const jam = new JamClient({ sessionUrl, bearerToken: 'unused' });
  const accountId = (await jam.getPrimaryAccount())!;
  const [mailboxes] = await jam.api.Mailbox.get({ accountId, ids: null });
  const inbox = mailboxes.list.find((m: { role: string }) => m.role === 'inbox')!;
  const raw = 'From: Jam <jam@example.net>\r\nTo: demo@example.org\r\nSubject: From jam\r\nDate: Wed, 2 Jul 2025 09:00:00 +0000\r\n\r\nSent by jmap-jam.\r\n';
  const blob = await jam.uploadBlob(accountId, new Blob([raw], { type: 'message/rfc822' }));
  const [imported] = await jam.api.Email.import({ accountId, emails: { one: { blobId: blob.blobId, mailboxIds: { [inbox.id]: true }, keywords: {}, receivedAt: '2025-07-02T09:00:00Z' } } } as never);
  const [{ query, emails }] = await jam.requestMany((t: any) => {
    const query = t.Email.query({ accountId, filter: { inMailbox: inbox.id, from: 'jam@' }, sort: [{ property: 'receivedAt', isAscending: false }] });
    const emails = t.Email.get({ accountId, ids: query.$ref('/ids'), properties: ['id', 'subject', 'from', 'keywords', 'blobId'] });
    return { query, emails };
  });
  const id = (emails as { list: Array<{ id: string }> }).list[0]!.id;
  const [set] = await jam.api.Email.set({ accountId, update: { [id]: { 'keywords/$seen': true } } } as never);
  const [after] = await jam.api.Email.get({ accountId, ids: [id], properties: ['keywords'] });
  const download = await jam.downloadBlob({ accountId, blobId: (emails as { list: Array<{ blobId: string }> }).list[0]!.blobId, mimeType: 'message/rfc822', fileName: 'm.eml' });
  // RFC 8621 beyond mail: parse, copy, snippets, identities, sending, vacation.
  const [parsed] = await jam.api.Email.parse({ accountId, blobIds: [blob.blobId], properties: ['subject', 'from'] } as never);
  const archive = mailboxes.list.find((m: { role: string }) => m.role === 'archive')!;
  const [copied] = await jam.api.Email.copy({ fromAccountId: accountId, accountId, create: { c: { id, mailboxIds: { [archive.id]: true } } } } as never);
  const [snippets] = await jam.api.SearchSnippet.get({ accountId, filter: { text: 'jam' }, emailIds: [id] } as never);
  const [identities] = await jam.api.Identity.get({ accountId, ids: null });
  const identity = identities.list[0]!;
  const drafts = mailboxes.list.find((m: { role: string }) => m.role === 'drafts')!;
  const [draft] = await jam.api.Email.set({
    accountId,
    create: { d: { mailboxIds: { [drafts.id]: true }, keywords: { $draft: true }, from: [{ email: identity.email }], to: [{ email: identity.email }], subject: 'Note to self', bodyValues: { b: { value: 'sent by jam' } }, textBody: [{ partId: 'b' }] } },
  } as never);
  const draftId = (draft as { created: Record<string, { id: string }> }).created.d!.id;
  const [submitted] = await jam.api.EmailSubmission.set({ accountId, create: { s: { identityId: identity.id, emailId: draftId } } } as never);
  const [vacationSet] = await jam.api.VacationResponse.set({ accountId, update: { singleton: { isEnabled: true, subject: 'Away' } } } as never);
  const [vacation] = await jam.api.VacationResponse.get({ accountId, ids: ['singleton'] } as never);
  process.stdout.write(`${JSON.stringify({ accountId, inbox: inbox.name, blob, imported, query, emails, set, after, downloaded: await download.text(), parsed, copied, snippets, identities, submitted, vacationSet, vacation })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`jam client failed: ${error instanceof Error ? error.stack : JSON.stringify(error)}\n`);
  process.exit(1);
});
