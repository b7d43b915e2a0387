// The admin API's public-folder routes (under /api/v1/publicfolders, OpenAPI tag `publicfolders`):
// list, add, remove, set a permission (an Exchange role or exact RFC 4314 rights) and
// mail-enable. Registered by server.ts beside admin.ts's routes, behind the same Bearer check;
// server/publicfolders.ts does the work. A path travels in the body or the `path` query parameter (it holds `/`).

import type { FastifyInstance } from 'fastify';
import { aclIdentifierBytesMax } from '../../engine/api.js';
import { roles, type Role } from '../acl.js';
import { type Outcome, sendResult } from './admin.js';

export interface PublicFolderAdmin {
  list(): Promise<Outcome>;
  add(path: string, database?: string): Promise<Outcome>;
  remove(path: string): Promise<Outcome>;
  /** role or rights; neither: the identifier's entry is removed. */
  setPermission(path: string, identifier: string, grant: Role | { rights: string } | null): Promise<Outcome>;
  mailEnable(path: string, address: string | null): Promise<Outcome>;
}

const prefix = '/api/v1/publicfolders';
const pathProperty = { type: 'string', minLength: 1, maxLength: 1024, description: 'The folder path, `/`-separated, e.g. `Sales/EMEA`' } as const;

const publicFolderSchema = {
  $id: 'PublicFolder',
  type: 'object',
  properties: {
    path: { type: 'string' },
    database: { type: 'string', description: 'The database whose public-folder mailbox holds the folder' },
    address: { type: ['string', 'null'], description: 'SMTP address of a mail-enabled folder' },
    messages: { type: 'integer' },
    sizeBytes: { type: 'integer' },
    permissions: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          identifier: { type: 'string', description: 'An address, `anyone` (Default) or `anonymous` (SMTP senders)' },
          rights: { type: 'string', description: 'RFC 4314 rights letters (lrswipkxtea)' },
          role: { type: ['string', 'null'], enum: [...roles, null], description: 'The Exchange role these rights are, or null' },
        },
      },
    },
  },
} as const;

const errorRefs = { 400: { $ref: 'Error#' }, 401: { $ref: 'Error#' }, 404: { $ref: 'Error#' }, 409: { $ref: 'Error#' }, 503: { $ref: 'Error#' } };

export function registerPublicFolderApi(app: FastifyInstance, backend: PublicFolderAdmin): void {
  app.addSchema(publicFolderSchema);
  app.get(prefix, {
    schema: { tags: ['publicfolders'], summary: 'Every public folder with its database, address and permissions', response: { 200: { type: 'array', items: { $ref: 'PublicFolder#' } }, ...errorRefs } },
  }, async (_request, reply) => sendResult(reply, await backend.list()));

  app.post<{ Body: { path: string; database?: string } }>(prefix, {
    schema: {
      tags: ['publicfolders'],
      summary: "Add a public folder (its parent must exist); in `database`, else its parent's, else the first database",
      body: { type: 'object', required: ['path'], additionalProperties: false, properties: { path: pathProperty, database: { type: 'string', minLength: 1 } } },
      response: { 201: { $ref: 'PublicFolder#' }, ...errorRefs },
    },
  }, async (request, reply) => sendResult(reply, await backend.add(request.body.path, request.body.database), true));

  app.delete<{ Querystring: { path: string } }>(prefix, {
    schema: {
      tags: ['publicfolders'],
      summary: 'Remove a public folder and its messages (not one with subfolders)',
      querystring: { type: 'object', required: ['path'], properties: { path: pathProperty } },
      response: { 200: { $ref: 'PublicFolder#' }, ...errorRefs },
    },
  }, async (request, reply) => sendResult(reply, await backend.remove(request.query.path)));

  app.put<{ Body: { path: string; identifier: string; role?: Role; rights?: string } }>(`${prefix}/permissions`, {
    schema: {
      tags: ['publicfolders'],
      summary: 'Give an identifier a role or exact rights on a folder; with neither, remove its entry',
      body: {
        type: 'object',
        required: ['path', 'identifier'],
        additionalProperties: false,
        properties: {
          path: pathProperty,
          // maxLength counts characters: the engine refuses an identifier over its octets.
          identifier: { type: 'string', minLength: 1, maxLength: aclIdentifierBytesMax },
          role: { type: 'string', enum: roles },
          rights: { type: 'string', pattern: '^[lrswipkxtea]*$', maxLength: 11 },
        },
      },
      response: { 200: { $ref: 'PublicFolder#' }, ...errorRefs },
    },
  }, async (request, reply) => {
    const { path, identifier, role, rights } = request.body;
    if (role !== undefined && rights !== undefined) return reply.code(400).send({ error: 'INVALID_ARGUMENT', message: 'give a role or rights, not both' });
    return sendResult(reply, await backend.setPermission(path, identifier, role ?? (rights === undefined ? null : { rights })));
  });

  app.put<{ Body: { path: string; address: string | null } }>(`${prefix}/address`, {
    schema: {
      tags: ['publicfolders'],
      summary: 'Mail-enable a folder at an SMTP address of an accepted domain (null: mail-disable)',
      body: { type: 'object', required: ['path', 'address'], additionalProperties: false, properties: { path: pathProperty, address: { type: ['string', 'null'], maxLength: 254 } } },
      response: { 200: { $ref: 'PublicFolder#' }, ...errorRefs },
    },
  }, async (request, reply) => sendResult(reply, await backend.mailEnable(request.body.path, request.body.address)));
}
