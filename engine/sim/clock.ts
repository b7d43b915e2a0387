// Virtual time for the simulator. Nothing here reads the real clock: time moves only when the
// simulator calls advance(), and sleepers wake in (time, arrival) order as it passes them.
// The engine today only stamps events (nowMs) and measures fsyncs (monoMs); sleep is here so
// the day it waits for something, the simulator still decides when it wakes.

import { assert } from '../assert.js';
import type { Clock } from '../io.js';

interface Sleeper {
  readonly wakeMs: number;
  readonly order: number;
  readonly resolve: () => void;
}

export class VirtualClock implements Clock {
  private monotonicMs = 0;
  private sleepers: Sleeper[] = [];
  private arrivals = 0;

  constructor(private wallMs: number) {}

  nowMs(): number {
    return this.wallMs;
  }

  monoMs(): number {
    return this.monotonicMs;
  }

  sleep(ms: number): Promise<void> {
    assert(ms >= 0, 'sleep for a negative time');
    return new Promise((resolve) => {
      this.sleepers.push({ wakeMs: this.monotonicMs + ms, order: this.arrivals++, resolve });
    });
  }

  /** Moves both clocks forward, waking every sleeper whose time has come, earliest first. */
  advance(ms: number): void {
    assert(ms >= 0, 'time only moves forward (use stepWall for a wall-clock jump)');
    this.monotonicMs += ms;
    this.wallMs += ms;
    const due = this.sleepers.filter((s) => s.wakeMs <= this.monotonicMs).sort((a, b) => a.wakeMs - b.wakeMs || a.order - b.order);
    this.sleepers = this.sleepers.filter((s) => s.wakeMs > this.monotonicMs);
    for (const sleeper of due) sleeper.resolve();
  }

  /** A wall-clock step (NTP correction, a restart on another host): may go backwards. */
  stepWall(ms: number): void {
    this.wallMs += ms;
  }

  get sleeping(): number {
    return this.sleepers.length;
  }
}
