import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { Upload } from '../upload.entity.js';

/** Work a handler leaves for after the upload's transaction committed (enqueue, cache eviction). */
export type AfterCommit = () => Promise<void>;

/** The upload's row is being inserted: handlers write through `manager`, in the same transaction. */
export interface UploadCommitted {
  readonly manager: EntityManager;
  readonly upload: Readonly<Upload>;
}

/** The upload's row is being deleted: handlers remove what hangs off it through `manager`. */
export interface UploadDeleted {
  readonly manager: EntityManager;
  readonly upload: Readonly<Pick<Upload, 'id' | 'userId'>>;
}

export interface UploadEventMap {
  committed: UploadCommitted;
  deleted: UploadDeleted;
}

export type UploadEventHandler<E> = (event: E) => Promise<AfterCommit | void>;

/**
 * How other modules join an upload's life without Uploads knowing them. Handlers run in order
 * inside the upload's transaction (a throw rolls the upload back) and may return after-commit
 * work, which the emitter hands back to the caller: a retried transaction (deadlock) re-runs them
 * and only the committed attempt's work is kept. Hand-written: EventEmitter2 (@nestjs/event-emitter)
 * runs async listeners in parallel and swallows their errors by default, and neither fits here.
 */
@Injectable()
export class UploadEvents {
  private readonly handlers: { [K in keyof UploadEventMap]: UploadEventHandler<UploadEventMap[K]>[] } = {
    committed: [],
    deleted: [],
  };

  /** Adds a handler (several may listen); returns its removal. */
  on<K extends keyof UploadEventMap>(name: K, handler: UploadEventHandler<UploadEventMap[K]>): () => void {
    const list = this.handlers[name] as UploadEventHandler<UploadEventMap[K]>[];
    list.push(handler);
    return () => {
      const at = list.indexOf(handler);
      if (at >= 0) list.splice(at, 1);
    };
  }

  /** Call inside the transaction; returns the handlers' after-commit work, in handler order. */
  async emit<K extends keyof UploadEventMap>(name: K, event: UploadEventMap[K]): Promise<AfterCommit[]> {
    const after: AfterCommit[] = [];
    for (const handler of [...this.handlers[name]] as UploadEventHandler<UploadEventMap[K]>[]) {
      const work = await handler(event);
      if (work) after.push(work);
    }
    return after;
  }
}
