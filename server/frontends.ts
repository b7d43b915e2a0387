// The front ends a server runs, started in order over one FrontEndContext. Each protocol adds
// its starter to `frontEndStarters`; the server then prints what each one listens on.

import type { FrontEnd, FrontEndContext, ListenPlan } from '../protocols/frontend.js';
import { startImap } from '../protocols/imap/server.js';
import { startMailFlow } from './delivery/index.js';
import { startPop3 } from '../protocols/pop3/server.js';

/** What a starter may need of the server besides the context: where the data directory is. */
export interface FrontEndHost {
  readonly dataDir: string;
}

export type FrontEndStarter = (context: FrontEndContext, plan: ListenPlan, host: FrontEndHost) => Promise<FrontEnd>;

export const frontEndStarters: ReadonlyArray<{ readonly name: string; readonly start: FrontEndStarter }> = [
  { name: 'IMAP', start: startImap },
  { name: 'SMTP', start: startMailFlow },
  { name: 'POP3', start: startPop3 },
];

/** Starts every front end; if one cannot listen, closes those already started and throws. */
export async function startFrontEnds(context: FrontEndContext, plan: ListenPlan, host: FrontEndHost): Promise<FrontEnd[]> {
  const started: FrontEnd[] = [];
  for (const { name, start } of frontEndStarters) {
    try {
      started.push(await start(context, plan, host));
    } catch (error) {
      await Promise.allSettled(started.map((frontEnd) => frontEnd.close()));
      throw new Error(`${name}: ${(error as Error).message}`);
    }
  }
  return started;
}
