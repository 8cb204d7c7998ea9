// The dashboard page's entry: bundled by tsup into dist/dashboard/dashboard.js, with the
// stylesheets it imports as dist/dashboard/dashboard.css. The router's HTML says who we
// are: <html data-read-only> and <div id="app" data-title>.
import 'uplot/dist/uPlot.min.css';
import './dashboard.css';
import { html } from 'htm/preact';
import { render } from 'preact';
import { App } from './app.js';

const root = document.getElementById('app');
if (root !== null) {
  const config = { title: root.dataset.title || document.title || 'Tasks', readOnly: document.documentElement.dataset.readOnly === 'true' };
  render(html`<${App} config=${config} />`, root);
}
