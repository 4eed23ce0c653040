#!/usr/bin/env node
// Reads a 0x028E01 meter with the npm package echonet-lite acting as a controller, for
// iotroute's interop tests.
//
// Usage: el_controller.js HOST [--epcs E0,E2,D1,D4] [--eoj 028E01] [--addr 127.0.0.1]
//                              [--timeout S] [--bind-any]
//
// Sends two Gets to HOST:3610 from ADDR:23610 (echonet-lite's fixed source port): one for
// the listed EPCs of the meter, one for 0xD6 (instance list) of the node profile 0EF001,
// and waits for both answers on ADDR:3610. Prints one JSON object (upper-case hex; an
// EPC answered with PDC 0 maps to ""):
//   {"028E01":{"E0":"00BC614E",...},"0EF001":{"D6":"01028E01"},
//    "esv":{"028E01":"72","0EF001":"72"}}
// Exits 0 when both answers came, 1 on timeout (after --timeout seconds, default 5) or
// error, with a message on stderr.
'use strict';

const path = require('path');
const common = require(path.join(__dirname, 'el_common.js'));

const USAGE =
  'usage: el_controller.js HOST [--epcs E0,E2,D1,D4] [--eoj 028E01] [--addr 127.0.0.1] [--timeout S] [--bind-any]';
const NODE_PROFILE = '0ef001';
const CONTROLLER = '05ff01';

function die(msg) {
  process.stderr.write(`el_controller: ${msg}\n`);
  process.exit(1);
}

let args;
try {
  args = common.parseArgv(process.argv.slice(2), {
    epcs: 'value',
    eoj: 'value',
    addr: 'value',
    timeout: 'value',
    'bind-any': 'flag',
  });
} catch (e) {
  die(`${e.message}\n${USAGE}`);
}
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (args._.length !== 1 || !common.isIPv4(args._[0])) die(USAGE);
const host = args._[0];
const addr = args.addr || '127.0.0.1';
if (!common.isIPv4(addr)) die(`bad --addr ${addr}`);
const eoj = (args.eoj || '028E01').toLowerCase();
if (!common.isHex(eoj, 3)) die(`bad --eoj ${args.eoj}`);
const epcs = (args.epcs || 'E0,E2,D1,D4').split(',').filter((s) => s !== '');
if (!epcs.length || !epcs.every((e) => common.isHex(e, 1))) die(`bad --epcs ${args.epcs}`);
const timeout = args.timeout === undefined ? 5 : Number(args.timeout);
if (!(timeout > 0)) die('--timeout must be a positive number of seconds');

common.pinToAddress(addr, Boolean(args['bind-any']));
const EL = require('echonet-lite');

const answers = {}; // TID (lower-case hex) -> {seoj, esv, props}
let waiting = null; // resolves when every expected TID has an answer
const expected = new Map(); // TID -> EOJ it was sent to

function onFrame(rinfo, els, err) {
  if (err || !els || !els.TID) return;
  if (rinfo.address !== host) return; // someone else on the same address
  if (els.ESV !== EL.GET_RES && els.ESV !== EL.GET_SNA) return;
  let props;
  try {
    props = common.parseProps(els.OPC, els.DETAIL);
  } catch (e) {
    process.stderr.write(`el_controller: malformed answer from ${host}: ${e.message}\n`);
    return;
  }
  answers[els.TID] = { seoj: els.SEOJ, esv: els.ESV.toUpperCase(), props };
  if (waiting && [...expected.keys()].every((t) => t in answers)) waiting();
}

async function main() {
  const sock = await EL.initialize([], onFrame, 4, {
    v4: addr,
    ignoreMe: false, // the default drops every frame from 127.0.0.1 and the host's NICs
    autoGetProperties: false, // answer nothing, fetch nothing on our own
    autoGetDelay: 0,
    debugMode: false,
  });
  await new Promise((resolve, reject) => {
    sock.once('error', reject);
    try {
      sock.address();
      resolve();
    } catch (_) {
      sock.once('listening', resolve);
    }
  }).catch((e) => die(`cannot bind ${args['bind-any'] ? '0.0.0.0' : addr}:${common.PORT}: ${e.message}`));

  const done = new Promise((resolve) => {
    waiting = resolve;
  });
  const tidHex = (tid) => tid.map((b) => b.toString(16).padStart(2, '0')).join('');
  const t1 = await EL.sendDetails(host, CONTROLLER, eoj, EL.GET, epcs.map((e) => ({ [e.toLowerCase()]: '' })));
  expected.set(tidHex(t1), eoj);
  const t2 = await EL.sendDetails(host, CONTROLLER, NODE_PROFILE, EL.GET, [{ d6: '' }]);
  expected.set(tidHex(t2), NODE_PROFILE);
  if ([...expected.keys()].every((t) => t in answers)) waiting();

  const timer = new Promise((resolve) => setTimeout(() => resolve('timeout'), timeout * 1000));
  const outcome = await Promise.race([done, timer]);
  if (outcome === 'timeout') {
    const missing = [...expected].filter(([t]) => !(t in answers)).map(([, o]) => o.toUpperCase());
    die(`no answer from ${host}:${common.PORT} for ${missing.join(', ')} within ${timeout}s (answers must go to ${addr}:${common.PORT})`);
  }

  const out = {};
  const esv = {};
  for (const [tid, target] of expected) {
    const a = answers[tid];
    const key = a.seoj.toUpperCase();
    if (a.seoj !== target) {
      process.stderr.write(`el_controller: answer to ${target.toUpperCase()} came from SEOJ ${key}\n`);
    }
    out[key] = {};
    for (const p of a.props) out[key][p.epc] = p.edt;
    esv[key] = a.esv;
  }
  out.esv = esv;
  process.stdout.write(JSON.stringify(out) + '\n');
  EL.release();
  process.exit(0);
}

main().catch((e) => die(e.stack || String(e)));
