// Bull Board's API layer (@bull-board/api, with its BullMQ adapter), the anchor of
// bench/dashboard.js: its real route handlers, as createBullBoard() hands them to a server
// adapter, wrapped with its request validation. A server adapter of a few lines keeps them
// (no UI is served); `serveBullBoard` mounts them on Express the way @bull-board/express does.
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { fileURLToPath } from 'node:url';

/** The API of a board over `queue` (a BullMQ Queue): its routes, and how to call them. */
export function bullBoardApi(queue) {
  const adapter = {
    setQueues(queues) {
      this.queues = queues;
      return this;
    },
    setViewsPath() {
      return this;
    },
    setStaticPath() {
      return this;
    },
    setEntryRoute() {
      return this;
    },
    setErrorHandler(handler) {
      this.errorHandler = handler;
      return this;
    },
    setUIConfig(config) {
      this.uiConfig = config;
      return this;
    },
    setApiRoutes(routes) {
      this.routes = routes;
      return this;
    },
  };
  // (uiBasePath: the UI package is not installed; nothing of it is served.)
  createBullBoard({ queues: [new BullMQAdapter(queue)], serverAdapter: adapter, options: { uiBasePath: fileURLToPath(new URL('.', import.meta.url)) } });
  const request = (query, params = {}, headers = {}) => ({ queues: adapter.queues, uiConfig: adapter.uiConfig, query, params, body: {}, headers });
  const queuesRoute = adapter.routes.find((route) => route.route === '/api/queues' && route.method === 'get');
  return {
    name: queue.name,
    routes: adapter.routes,
    request,
    errorHandler: adapter.errorHandler,
    /** What the UI asks for a page of a status: GET /api/queues?activeQueue=…&status=…&page=…&jobsPerPage=… */
    page: (status, page, jobsPerPage) => queuesRoute.handler(request({ activeQueue: queue.name, status, page: String(page), jobsPerPage: String(jobsPerPage) })),
  };
}

/** Mounts the board's API routes on an Express app, as @bull-board/express's adapter does. */
export function serveBullBoard(app, express, api) {
  const router = express.Router();
  for (const route of api.routes) {
    for (const method of [route.method].flat()) {
      for (const path of [route.route].flat()) {
        router[method](path, async (req, res, next) => {
          try {
            const response = await route.handler(api.request({ ...req.query }, req.params, req.headers));
            res.status(response.status || 200).json(response.body);
          } catch (error) {
            next(error);
          }
        });
      }
    }
  }
  router.use((error, _req, res, _next) => {
    const response = api.errorHandler(error);
    res.status(response.status || 500).send(response.body);
  });
  app.use(router);
}
