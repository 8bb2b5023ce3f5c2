// Loaded into a bench's coordinator child with `--import` (fleet-scale's `--pg-tally <file>`):
// what its pg clients send and receive, by statement. SIGUSR2 starts a window (counts reset);
// the next SIGUSR2 ends it and writes the tally to MVM_BENCH_PG_TALLY as JSON:
//   { statements: { [text]: { calls, rows, rowBytes } }, writes, bytesOut, bytesIn }
// `rows` and `rowBytes` are the DataRow messages each statement was answered with (header
// included); `writes` the socket writes (a corked Parse/Bind/Execute/Sync is one writev),
// `bytesIn` everything read from the sockets (row descriptions, completions, ready included).
import { writeFileSync } from 'node:fs';
import process from 'node:process';
import pg from 'pg';

const file = process.env.MVM_BENCH_PG_TALLY;
let recording = false;
let tally = fresh();

function fresh() {
  return { statements: {}, writes: 0, bytesOut: 0, bytesIn: 0 };
}

function fold(text) {
  return String(text ?? '?')
    .replace(/\s+/g, ' ')
    .slice(0, 200);
}

function entry(text) {
  const key = fold(text);
  tally.statements[key] ??= { calls: 0, rows: 0, rowBytes: 0 };
  return tally.statements[key];
}

const watched = new WeakSet();
function watch(stream) {
  if (!stream || watched.has(stream)) return;
  watched.add(stream);
  const write = stream._write?.bind(stream);
  const writev = stream._writev?.bind(stream);
  if (write)
    stream._write = (chunk, encoding, callback) => {
      if (recording) {
        tally.writes += 1;
        tally.bytesOut += chunk.length;
      }
      return write(chunk, encoding, callback);
    };
  if (writev)
    stream._writev = (chunks, callback) => {
      if (recording) {
        tally.writes += 1;
        for (const { chunk } of chunks) tally.bytesOut += chunk.length;
      }
      return writev(chunks, callback);
    };
  stream.on('data', (chunk) => {
    if (recording) tally.bytesIn += chunk.length;
  });
}

const query = pg.Client.prototype.query;
pg.Client.prototype.query = function tallied(first, ...rest) {
  watch(this.connection?.stream);
  if (recording) entry(typeof first === 'string' ? first : first?.text).calls += 1;
  return query.call(this, first, ...rest);
};

const dataRow = pg.Client.prototype._handleDataRow;
pg.Client.prototype._handleDataRow = function talliedRow(msg) {
  if (recording) {
    const active = this._getActiveQuery();
    const counted = entry(active?.text);
    counted.rows += 1;
    counted.rowBytes += msg.length + 1;
  }
  return dataRow.call(this, msg);
};

process.on('SIGUSR2', () => {
  if (!recording) {
    tally = fresh();
    recording = true;
    return;
  }
  recording = false;
  if (file) writeFileSync(file, JSON.stringify(tally));
});
