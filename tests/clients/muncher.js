// o2r-muncher's Docker sequence (lib/executor.js and lib/image.js of
// o2r-project/o2r-muncher), replayed with the same dockerode version against
// vmsandbox's Docker socket.  Unchanged client code: only the socket differs.
//
//   node muncher.js SOCKET IMAGE_TAR PAYLOAD_DIR
//
// Prints "ok - STEP" or "FAIL - STEP: WHY" per step (tests/integration/docker.sh
// declares the steps); exits 1 when a step failed.
'use strict';
const Docker = require('dockerode');
const fs = require('fs');
const path = require('path');
const stream = require('stream');
const tarStream = require('tar-stream');

const [socketPath, imageTar, payload] = process.argv.slice(2);
const docker = new Docker({ socketPath });
let failed = false;

function ok(step) { console.log(`ok - ${step}`); }
function fail(step, why) { console.log(`FAIL - ${step}: ${why}`); failed = true; }
async function step(name, fn) {
  try {
    const why = await fn();
    if (why) fail(name, why); else ok(name);
  } catch (e) {
    fail(name, (e && e.message ? e.message : String(e)).replace(/\s+/g, ' ').slice(0, 300));
  }
}

// JSON lines as muncher reads them (one object per 'data' event, or several).
function jsonLines(s) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const out = [];
    s.on('data', (d) => { buf += d.toString('utf8'); });
    s.on('end', () => {
      for (const line of buf.split('\n')) if (line.trim()) out.push(JSON.parse(line));
      resolve(out);
    });
    s.on('error', reject);
  });
}

// A tar of one Dockerfile and one file, built in memory.
function contextTar(files) {
  const pack = tarStream.pack();
  for (const [name, text] of Object.entries(files)) pack.entry({ name, mode: 0o644 }, text);
  pack.finalize();
  return pack;
}

function readTar(s) {
  return new Promise((resolve, reject) => {
    const extract = tarStream.extract();
    const entries = {};
    extract.on('entry', (h, body, next) => {
      const chunks = [];
      body.on('data', (c) => { if (h.name === 'manifest.json' || h.name.endsWith('.json')) chunks.push(c); });
      body.on('end', () => { entries[h.name.replace(/^\.\//, '')] = Buffer.concat(chunks); next(); });
      body.resume();
    });
    extract.on('finish', () => resolve(entries));
    extract.on('error', reject);
    s.pipe(extract);
  });
}

(async () => {
  let loadedTag = null, imageId = null, builtId = null;

  await step('ping', async () => {
    const r = await docker.ping();
    return r.toString() === 'OK' ? null : `answered ${r}`;
  });
  await step('version', async () => {
    const v = await docker.version();
    for (const k of ['Version', 'ApiVersion', 'Arch', 'Os'])
      if (!v[k]) return `no ${k} in ${JSON.stringify(v)}`;
    return v.Platform && v.Platform.Name ? null : 'no Platform.Name';
  });
  // executor.js: docker.loadImage(tarStream, {}, ...) and 'Loaded image:' parsing.
  await step('load', async () => {
    const s = await docker.loadImage(fs.createReadStream(imageTar), {});
    const lines = await jsonLines(s);
    for (const d of lines)
      if (d.stream && d.stream.indexOf('Loaded image') > -1) loadedTag = d.stream.split('Loaded image:')[1].trim();
    return loadedTag ? null : `no 'Loaded image:' line in ${JSON.stringify(lines)}`;
  });
  await step('inspect', async () => {
    const d = await docker.getImage(loadedTag).inspect();
    imageId = d.Id;
    if (!/^sha256:[0-9a-f]{64}$/.test(d.Id)) return `Id ${d.Id}`;
    return d.RepoTags.includes(loadedTag) ? null : `RepoTags ${JSON.stringify(d.RepoTags)}`;
  });
  await step('tag', async () => {
    await docker.getImage(loadedTag).tag({ repo: 'erc', tag: 'job1' });
    const d = await docker.getImage('erc:job1').inspect();
    return d.Id === imageId ? null : `erc:job1 is ${d.Id}, not ${imageId}`;
  });
  // executor.js executeImage: create options from muncher's config (smaller
  // memory), the payload bound rw at /erc, a substitution's file of the
  // payload bound ro over one of /erc's files (executor.js's bind_mounts:
  // path.join(payload, source) + ':' + destination + ':ro'), AutoRemove;
  // docker.run attaches before it starts, then waits.
  await step('run', async () => {
    let out = '';
    const sink = new stream.Writable({ write(c, e, next) { out += c.toString(); next(); } });
    fs.writeFileSync(path.join(payload, 'subst.txt'), 'substituted\n');
    const create = {
      CpuShares: 256, Memory: 268435456, MemorySwap: 536870912, NetworkDisabled: true, User: '1000',
      name: 'muncher_job_1',
      HostConfig: { Binds: [`${payload}:/erc:rw`, `${path.join(payload, 'subst.txt')}:/erc/in.txt:ro`], AutoRemove: true },
    };
    const [data] = await docker.run('erc:job1', ['sh', '-c', 'cat /erc/in.txt; echo made > /erc/out.txt; exit 3'],
                                     sink, create, {});
    if (data.StatusCode !== 3) return `StatusCode ${data.StatusCode}, wanted 3`;
    if (out.trim() !== 'substituted') return `output ${JSON.stringify(out)}`;
    const back = fs.readFileSync(path.join(payload, 'out.txt'), 'utf8');
    if (back !== 'made\n') return `out.txt is ${JSON.stringify(back)}`;
    // The file under the ro bind is the payload's, untouched by the write-back.
    const kept = fs.readFileSync(path.join(payload, 'in.txt'), 'utf8');
    return kept === 'from the host\n' ? null : `in.txt is ${JSON.stringify(kept)}`;
  });
  await step('autoremove', async () => {
    const list = await docker.listContainers({ all: true });
    return list.some((c) => (c.Names || []).includes('/muncher_job_1')) ? 'the container is still listed' : null;
  });
  // executor.js buildImage: JSON lines, aux.ID, 'Successfully tagged' last.
  await step('build', async () => {
    const ctx = contextTar({ Dockerfile: 'FROM erc:job1\nCOPY note.txt /note.txt\nRUN cat /note.txt\n',
                             'note.txt': 'built by dockerode\n' });
    const s = await docker.buildImage(ctx, { t: 'erc:built' });
    const lines = await jsonLines(s);
    const last = lines[lines.length - 1] || {};
    for (const d of lines) if (d.aux && d.aux.ID) builtId = d.aux.ID;
    if (last.error) return `build failed: ${last.error}`;
    if (!builtId) return `no aux.ID in ${JSON.stringify(lines).slice(0, 300)}`;
    if (!lines.some((d) => d.stream && d.stream.includes('built by dockerode'))) return 'RUN output missing';
    return last.stream && last.stream.startsWith('Successfully tagged') ? null : `last line ${JSON.stringify(last)}`;
  });
  // image.js: image.get() and manifest.json's RepoTags and Config.
  await step('save', async () => {
    const s = await docker.getImage('erc:built').get();
    const entries = await readTar(s);
    if (!entries['manifest.json']) return `no manifest.json in ${Object.keys(entries).join(' ')}`;
    const m = JSON.parse(entries['manifest.json'].toString());
    if (!m[0].RepoTags.includes('erc:built')) return `RepoTags ${JSON.stringify(m[0].RepoTags)}`;
    if (!entries[m[0].Config]) return `no config ${m[0].Config}`;
    return `sha256:${m[0].Config.replace(/\.json$/, '')}` === builtId ? null : `config ${m[0].Config} is not ${builtId}`;
  });
  await step('remove_image', async () => {
    await docker.getImage('erc:built').remove();
    try { await docker.getImage('erc:built').inspect(); } catch (e) { return e.statusCode === 404 ? null : e.message; }
    return 'erc:built still there';
  });
  process.exit(failed ? 1 : 0);
})();
