// The IPC hop's coalescing: messages sent during one turn of the event loop leave in one write
// at its end (setImmediate: after the poll phase, so everything the sockets that were ready
// brought in, and the microtasks they ran, is in it), as one message or as `{ many }`. Order is
// kept: a flush sends everything queued before it, so a message sent at once (`now`) never
// overtakes one queued earlier.

import type { Many } from './protocol.js';

export class Outbox<T extends object> {
  private queued: T[] = [];
  private scheduled = false;

  constructor(
    /** Writes one IPC message; `done` gets the send's error, if any. */
    private readonly write: (message: T | Many<T>, done: (error: Error | null) => void) => void,
    /** Called with the messages of a write that failed. */
    private readonly failed: (messages: readonly T[], error: Error) => void = () => {},
  ) {}

  /** Queues a message for the write at the end of this turn. */
  send(message: T): void {
    this.queued.push(message);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Writes what is queued, then `message`, now (a process about to exit must not leave it queued). */
  now(message: T): void {
    this.flush();
    this.write(message, (error) => {
      if (error) this.failed([message], error);
    });
  }

  /** Writes what is queued now. */
  flush(): void {
    this.scheduled = false;
    const messages = this.queued;
    if (messages.length === 0) return;
    this.queued = [];
    this.write(messages.length === 1 ? messages[0]! : { many: messages }, (error) => {
      if (error) this.failed(messages, error);
    });
  }

  /** Drops what is queued (the other end is gone); returns it. */
  drop(): T[] {
    const messages = this.queued;
    this.queued = [];
    return messages;
  }
}

/** The messages of one IPC message: itself, or the ones a `{ many }` carries. */
export function unpack<T extends object>(message: T | Many<T>): readonly T[] {
  return 'many' in message ? message.many : [message];
}
