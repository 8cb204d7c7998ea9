// How a benchmark's server process runs: it tells the parent its port, and on 'exit'
// stops listening, closes what it was given, and exits.
export function serve(app, ...closables) {
  const server = app.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('message', async (message) => {
    if (message !== 'exit') return;
    server.close();
    server.closeAllConnections();
    await Promise.all(closables.map((closable) => closable.close?.() ?? closable.destroy()));
    process.exit(0);
  });
}
