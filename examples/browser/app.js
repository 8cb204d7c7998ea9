// The browser side of the demo: start tasks, follow them with the client helper.
import { waitForTask } from '/client.js';

const rows = document.getElementById('tasks');

function addRow(status) {
  const row = rows.insertRow(0);
  row.dataset.task = status.id;
  row.innerHTML = `<td class="id"></td><td class="status"></td><td><progress max="1" value="0"></progress> <span class="message"></span></td><td class="result"></td><td><button class="cancel">Cancel</button></td>`;
  row.querySelector('.id').textContent = status.id.slice(0, 8);
  return row;
}

function show(row, status) {
  const cell = row.querySelector('.status');
  cell.textContent = status.status;
  cell.className = `status ${status.status}`;
  if (status.progress !== undefined) row.querySelector('progress').value = status.progress;
  row.querySelector('.message').textContent = status.message ?? '';
}

async function start(url) {
  const submitted = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ title: 'from the browser' }),
  });
  const status = await submitted.clone().json();
  const row = addRow(status);
  show(row, status);
  const monitor = new URL(submitted.headers.get('location'), location.href);
  row.querySelector('.cancel').onclick = () => fetch(monitor, { method: 'DELETE' });

  const response = await waitForTask(submitted, { onProgress: (current) => show(row, current) });
  const body = await response.json();
  const outcome = response.ok ? 'succeeded' : body.type?.endsWith('task-canceled') ? 'canceled' : 'failed';
  show(row, { ...status, status: outcome, progress: response.ok ? 1 : undefined });
  row.querySelector('.result').innerHTML = `<pre></pre>`;
  row.querySelector('pre').textContent = `${response.status} ${JSON.stringify(body, null, 1)}`;
  row.querySelector('.cancel').remove();
}

for (const button of document.querySelectorAll('button[data-url]')) {
  button.addEventListener('click', () => start(button.dataset.url));
}
