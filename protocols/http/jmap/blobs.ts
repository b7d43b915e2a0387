// Blobs (RFC 8620 sec. 6): uploads are kept in memory per account for an hour (at most
// uploadsPerAccountMax each, oldest dropped first); a stored message is the blob
// `B<folderId>.<uid>` and one of its parts `B<folderId>.<uid>.<partId>` (decoded bytes), read
// through the mailbox API on demand; a part of an upload is `U<hash>.<partId>` (Email/parse).

import { createHash } from 'node:crypto';
import { binaryBytes, parseMessage, parseSection } from '../../../engine/api.js';
import { unwrap } from './account.js';
import { type MethodContext, uploadTtlMs, uploadsPerAccountMax } from './core.js';

export const blobIdOf = (folderId: number, uid: number, partId?: string): string => `B${folderId}.${uid}${partId === undefined ? '' : `.${partId}`}`;

interface Upload {
  readonly bytes: Uint8Array;
  readonly type: string;
  readonly expiresAtMs: number;
}

export class BlobStore {
  private readonly uploads = new Map<string, Map<string, Upload>>();
  constructor(private readonly nowMs: () => number = Date.now) {}

  upload(accountId: string, bytes: Uint8Array, type: string): { accountId: string; blobId: string; type: string; size: number } {
    const blobId = `U${createHash('sha256').update(bytes).digest('hex').slice(0, 40)}`;
    const account = this.uploads.get(accountId) ?? new Map<string, Upload>();
    this.uploads.set(accountId, account);
    this.expire(account);
    account.delete(blobId);
    account.set(blobId, { bytes, type, expiresAtMs: this.nowMs() + uploadTtlMs });
    while (account.size > uploadsPerAccountMax) account.delete(account.keys().next().value!);
    return { accountId, blobId, type, size: bytes.length };
  }

  private expire(account: Map<string, Upload>): void {
    const now = this.nowMs();
    for (const [id, upload] of account) if (upload.expiresAtMs <= now) account.delete(id);
  }

  /** A blob's bytes (and type when known); null when there is no such blob for this account. */
  async read(context: Pick<MethodContext, 'accountId' | 'view'>, blobId: string): Promise<{ bytes: Uint8Array; type: string } | null> {
    if (blobId.startsWith('U')) {
      // An upload, or a part of an uploaded message (Email/parse names its parts `U<hash>.<partId>`).
      const [uploadId, ...path] = blobId.split('.');
      const account = this.uploads.get(context.accountId);
      if (account === undefined) return null;
      this.expire(account);
      const upload = account.get(uploadId!);
      if (upload === undefined) return null;
      if (path.length === 0) return { bytes: upload.bytes, type: upload.type };
      const section = parseSection(path.join('.'));
      if (section === null || section.specifier !== undefined) return null;
      const part = binaryBytes(upload.bytes, parseMessage(upload.bytes), section.path);
      return part === null || part === 'unknownEncoding' ? null : { bytes: part, type: 'application/octet-stream' };
    }
    const match = /^B(\d{1,9})\.(\d{1,10})(?:\.([\d.]{1,200}))?$/.exec(blobId);
    if (match === null) return null;
    const ref = await context.view.message(Number(match[1]), Number(match[2]));
    if (ref === null) return null;
    const { api, mailboxId } = context.view;
    if (match[3] === undefined) return { bytes: unwrap(await api.readMessage(mailboxId, ref.folder.name, ref.info.uid)), type: 'message/rfc822' };
    const section = parseSection(match[3]);
    if (section === null) return null;
    const part = await api.readPart(mailboxId, ref.folder.name, ref.info.uid, section, { binary: true });
    if (!part.ok) return part.code === 'UNKNOWN_CTE' ? null : unwrap(part);
    return part.value === null ? null : { bytes: part.value, type: 'application/octet-stream' };
  }
}
