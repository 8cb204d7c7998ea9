// Worker side only (imported by the thread entry): the Express that a handler module
// resolves, and the request and response it gets, built on that Express's prototypes.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { AppSettings, RequestSnapshot } from '../core/backend.js';
import type { TaskInfo } from '../core/task-info.js';
import { HandlerModuleError, UnsupportedResponseMethodError } from '../core/errors.js';
import { displayName } from './module-name.js';

interface ExpressModule {
  (): { set(name: string, value: unknown): unknown; readonly response: object };
  readonly request: object;
  readonly response: object;
}

/** The Express of one handler module, and a response prototype per set of app settings. */
interface ModuleExpress {
  readonly express: ExpressModule;
  readonly responses: Map<string, object>;
}

const ownRequire = createRequire(import.meta.url);
const byPath = new Map<string, ModuleExpress>();
const byModule = new Map<string, ModuleExpress>();

// Express takes 100 ms or more to load (its response module alone). A thread loads the one
// beside this library as it starts, before piscina gives it a task, so that tasks do not
// wait for it; a module that resolves another Express loads that one on its first task.
try {
  const path = ownRequire.resolve('express');
  byPath.set(path, { express: ownRequire(path) as ExpressModule, responses: new Map() });
} catch {
  // None here: each module's own is loaded when its first task comes.
}

// The express the module itself would import, else the one installed beside this library.
function expressOf(module: string): ModuleExpress {
  let found = byModule.get(module);
  if (found !== undefined) return found;
  let path: string;
  try {
    path = createRequire(module).resolve('express');
  } catch {
    try {
      path = ownRequire.resolve('express');
    } catch {
      throw new HandlerModuleError(`The handler module ${displayName(fileURLToPath(module))} runs with Express's req and res, and no express package can be found from it; install express.`);
    }
  }
  found = byPath.get(path);
  if (found === undefined) {
    found = { express: ownRequire(path) as ExpressModule, responses: new Map() };
    byPath.set(path, found);
  }
  byModule.set(module, found);
  return found;
}

function render(this: unknown): never {
  throw new UnsupportedResponseMethodError(
    'render',
    'views render through the app, which a worker thread has not; render in an inline handler, or build the HTML with your template engine and res.send() it',
  );
}

/**
 * The prototype of a handler module's `res`: Express's `response` of the express the
 * module resolves, with an app that has the submitting app's settings (so `json`, `send`,
 * `jsonp` and the ETag follow them), and `render`, which needs the app itself, refused.
 */
export function responsePrototype(module: string, settings: AppSettings): object {
  const { express, responses } = expressOf(module);
  const key = JSON.stringify(settings);
  let prototype = responses.get(key);
  if (prototype === undefined) {
    const app = express();
    for (const [name, value] of Object.entries(settings)) app.set(name, value);
    prototype = Object.create(app.response, { render: { value: render, writable: true, configurable: true } }) as object;
    responses.set(key, prototype);
  }
  return prototype;
}

/**
 * A handler module's `req`: Express's `request` of the express the module resolves, with
 * the snapshot's data as its own properties, over the getters that would compute them
 * from an app and a socket this thread has not. `req.app` does not exist here.
 */
export function buildRequest(module: string, snapshot: RequestSnapshot, task: TaskInfo): object {
  const { express } = expressOf(module);
  const req = Object.create(express.request) as Record<string, unknown>;
  const own = (value: unknown): PropertyDescriptor => ({ value, writable: true, enumerable: true, configurable: true });
  const descriptors: PropertyDescriptorMap = {};
  for (const [name, value] of Object.entries(snapshot)) descriptors[name] = own(value);
  // A Buffer arrives as a plain Uint8Array; give the handler its Buffer back.
  const { body } = snapshot;
  if (body instanceof Uint8Array && !Buffer.isBuffer(body)) descriptors.body = own(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  descriptors.secure = own(snapshot.protocol === 'https');
  descriptors.task = own(task);
  Object.defineProperties(req, descriptors);
  return req;
}
