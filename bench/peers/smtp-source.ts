// Postfix's smtp-source (Debian's postfix package) as an independent delivery load: a C client
// that neither side of the comparison wrote. Installed through scripts/services' apt
// provisioning (policy-rc.d keeps the postfix daemon down, and nothing here starts it: only the
// smtp-source binary is used); it fails loudly when it cannot be installed.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { aptInstall } from '../../scripts/services/runner.js';

export const smtpSourcePath = '/usr/sbin/smtp-source';

/** Installs postfix (for smtp-source) unless it is there; throws when it cannot. */
export function ensureSmtpSource(): string {
  if (!existsSync(smtpSourcePath)) aptInstall('postfix', ['postfix'], ['postfix postfix/main_mailer_type select No configuration']);
  if (!existsSync(smtpSourcePath)) throw new Error(`${smtpSourcePath} is missing after installing postfix: smtp-source is required by the delivery suite`);
  return smtpSourcePath;
}

export interface SmtpSourceRun {
  /** LMTP (-L) rather than SMTP. */
  readonly lmtp: boolean;
  readonly port: number;
  /** Concurrent sessions (-s); each keeps its connection for its messages (-d). */
  readonly sessions: number;
  /** Messages in all (-m). */
  readonly messages: number;
  /** Payload bytes per message, headers not included (-l). */
  readonly bytes: number;
  readonly from: string;
  readonly to: string;
}

/** Runs smtp-source once; resolves with the wall-clock time of the whole run. Any error line from smtp-source fails it. */
export function runSmtpSource(run: SmtpSourceRun): Promise<{ elapsedMs: number }> {
  const args = [
    ...(run.lmtp ? ['-L'] : []),
    '-d', '-c',
    '-s', String(run.sessions),
    '-m', String(run.messages),
    '-l', String(run.bytes),
    '-f', run.from,
    '-t', run.to,
    '-S', 'smtp-source load',
    `127.0.0.1:${run.port}`,
  ];
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(smtpSourcePath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let errors = '';
    child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    child.stdout.resume();
    child.on('error', reject);
    child.on('close', (status) => {
      const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
      if (status !== 0 || /error|fatal|warning/i.test(errors)) reject(new Error(`smtp-source ${args.join(' ')} exited ${status}: ${errors.trim().slice(0, 500)}`));
      else resolve({ elapsedMs });
    });
  });
}
