#!/usr/bin/env node
// A distributed generation electric energy meter (0x028E01) with a node profile, served by
// the npm package echonet-lite, for iotroute's interop tests.
//
// Usage: el_device.js --addr 127.0.0.x [--prop EPC=HEX ...] [--lifetime S] [--bind-any]
//
// stdout, in this order:
//   line 1: one JSON object with everything it serves (upper-case hex):
//           {"addr":"127.0.0.3","port":3610,"src_port":23610,
//            "objects":{"0EF001":{"80":"30",...,"D6":"01028E01"},"028E01":{"80":"30",...,"E0":"00BC614E"}}}
//   line 2: READY   (the receiving socket is bound; requests are answered from then on)
// Exits 0 on SIGTERM / SIGINT, or by itself after --lifetime seconds (default 300) so a
// crashed test never leaves it behind. Errors go to stderr with exit code 1.
'use strict';

const path = require('path');
const common = require(path.join(__dirname, 'el_common.js'));

// Exit 0 on SIGTERM/SIGINT from the very start, before echonet-lite is up as well.
let released = false;
function stop() {
  if (released) return;
  released = true;
  try {
    if (typeof EL !== 'undefined' && EL.sock4) EL.release();
  } finally {
    process.exit(0);
  }
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

const USAGE = 'usage: el_device.js --addr 127.0.0.x [--prop EPC=HEX ...] [--lifetime S] [--bind-any]';
const EOJ = '028e01';

function die(msg) {
  process.stderr.write(`el_device: ${msg}\n`);
  process.exit(1);
}

let args;
try {
  args = common.parseArgv(process.argv.slice(2), { addr: 'value', prop: 'multi', lifetime: 'value', 'bind-any': 'flag' });
} catch (e) {
  die(`${e.message}\n${USAGE}`);
}
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (!args.addr || !common.isIPv4(args.addr) || args._.length) die(USAGE);
const lifetime = args.lifetime === undefined ? 300 : Number(args.lifetime);
if (!(lifetime > 0)) die('--lifetime must be a positive number of seconds');

// The fixed values of the meter object. Keys are lower-case EPCs, values byte arrays:
// that is the dev_details layout echonet-lite's replyGetDetail() serves from.
const meter = {
  '80': [0x30], // operation status: ON
  '81': [0x08], // installation location: living room
  '82': [0x00, 0x00, 0x52, 0x01], // Appendix Release R, rev. 1
  '83': [0xfe, 0x00, 0x00, 0x77, ...Buffer.from('ELDEVICE00001')], // identification number
  '88': [0x42], // fault status: no fault
  '8a': [0x00, 0x00, 0x77], // manufacturer code (the one echonet-lite uses for itself)
  'd1': [...Buffer.from('ELDEVICE0001')], // device ID, 12 ASCII bytes
  'd4': [0x02], // unit for cumulative energy: 0.01 kWh
  'e0': [0x00, 0xbc, 0x61, 0x4e], // cumulative energy, AC input: 12345678 (123456.78 kWh)
  'e2': [0x00, 0x00, 0x30, 0x39], // cumulative energy, AC output: 12345 (123.45 kWh)
};
const ANNO = [0x80, 0x81, 0x88];
const SETTABLE = [0x81];

for (const p of args.prop || []) {
  const m = /^([0-9a-fA-F]{2})=([0-9a-fA-F]*)$/.exec(p);
  if (!m || m[2].length % 2) die(`bad --prop ${p} (want EPC=HEX, e.g. E0=00BC614E)`);
  const epc = m[1].toLowerCase();
  if (['9d', '9e', '9f'].includes(epc)) die('--prop cannot override the property maps; they follow the served EPCs');
  if (m[2] === '') {
    delete meter[epc];
  } else {
    meter[epc] = [...Buffer.from(m[2], 'hex')];
  }
}
const getEpcs = Object.keys(meter).map((k) => parseInt(k, 16)).concat([0x9d, 0x9e, 0x9f]);
meter['9d'] = common.encodePropertyMap(ANNO.filter((e) => getEpcs.includes(e)));
meter['9e'] = common.encodePropertyMap(SETTABLE.filter((e) => getEpcs.includes(e)));
meter['9f'] = common.encodePropertyMap(getEpcs);
const devDetails = { [EOJ]: meter };

common.pinToAddress(args.addr, Boolean(args['bind-any']));
var EL = require('echonet-lite'); // eslint-disable-line no-var -- read by stop()

function snapshot() {
  const toHex = (obj) => {
    const out = {};
    for (const k of Object.keys(obj).sort()) out[k.toUpperCase()] = Buffer.from(obj[k]).toString('hex').toUpperCase();
    return out;
  };
  return {
    addr: args.addr,
    port: common.PORT,
    src_port: common.SEND_PORT,
    objects: { '0EF001': toHex(EL.Node_details), '028E01': toHex(meter) },
  };
}

function onFrame(rinfo, els, err) {
  if (err) {
    process.stderr.write(`el_device: bad frame from ${rinfo.address}:${rinfo.port}: ${err.message}\n`);
    return;
  }
  if (!els || els.DEOJ !== EOJ) return; // the node profile is answered inside echonet-lite
  switch (els.ESV) {
    case EL.GET:
      EL.replyGetDetail(rinfo, els, devDetails);
      break;
    case EL.SETI:
    case EL.SETC: {
      // echonet-lite accepts a Set of any EPC the object has but stores nothing for
      // classes it has no code for; keep the settable ones so a later Get shows them.
      for (const epc of Object.keys(els.DETAILs)) {
        const edt = els.DETAILs[epc];
        if (SETTABLE.includes(parseInt(epc, 16)) && edt.length === 2 * meter[epc].length) {
          meter[epc] = [...Buffer.from(edt, 'hex')];
        }
      }
      EL.replySetDetail(rinfo, els, devDetails);
      break;
    }
    default:
      break;
  }
}

async function main() {
  const sock = await EL.initialize([EOJ], onFrame, 4, {
    v4: args.addr, // source address of everything sent, and the multicast interface
    ignoreMe: false, // the default drops every frame from 127.0.0.1 and the host's NICs
    autoGetProperties: false, // a device does not go reading others
    autoGetDelay: 0,
    debugMode: false,
  });
  // A stable identification number instead of one made from this machine's MAC.
  EL.Node_details['83'] = [0xfe, 0x00, 0x00, 0x77, ...Buffer.from('ELDEVICENODE1')];

  await new Promise((resolve, reject) => {
    sock.once('error', reject);
    try {
      sock.address();
      resolve();
    } catch (_) {
      sock.once('listening', resolve);
    }
  }).catch((e) => die(`cannot bind ${args['bind-any'] ? '0.0.0.0' : args.addr}:${common.PORT}: ${e.message}`));
  sock.on('error', (e) => process.stderr.write(`el_device: socket error: ${e.message}\n`));

  process.stdout.write(JSON.stringify(snapshot()) + '\n');
  process.stdout.write('READY\n');

  setTimeout(() => {
    process.stderr.write(`el_device: --lifetime ${lifetime}s reached, exiting\n`);
    stop();
  }, lifetime * 1000).unref();
  // Keep the process alive even if the socket were unref'd.
  setInterval(() => {}, 1 << 30);
}

main().catch((e) => die(e.stack || String(e)));
