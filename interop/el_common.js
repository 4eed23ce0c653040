// Shared helpers for the echonet-lite (npm) peer harnesses: el_device.js, el_controller.js.
//
// echonet-lite 2.16.2 hard-codes its receiving socket to 0.0.0.0:3610 (UDP, SO_REUSEADDR)
// and sends every frame from a fresh socket bound to <Options.v4>:23610 (3610 + 20000),
// always to port 3610 of the destination, whatever the requester's source port was.
// `pinToAddress` redirects the one 0.0.0.0 bind to a loopback address of our choosing so
// that several ECHONET Lite nodes (ours and the peers) can share one machine, each on its
// own 127.0.0.x:3610. See README.md for the full picture.
'use strict';

const dgram = require('dgram');

const PORT = 3610;
const SEND_PORT = PORT + 20000; // echonet-lite's source port for everything it sends

/// Makes every later `dgram` bind to 0.0.0.0 (or ::) bind to `addr` instead (unless
/// `bindAny`), and makes multicast joins use the interface that holds `addr` instead of the
/// one of the default route, so that nothing of a test reaches a real network. A socket
/// bound to a unicast address receives no multicast anyway.
function pinToAddress(addr, bindAny = false) {
  const proto = dgram.Socket.prototype;
  const origBind = proto.bind;
  const origAddMembership = proto.addMembership;
  const any = (a) => a === undefined || a === '0.0.0.0' || a === '::' || a === '';
  if (!bindAny) {
    proto.bind = function (...args) {
      if (args[0] !== null && typeof args[0] === 'object') {
        if (any(args[0].address)) {
          args[0] = Object.assign({}, args[0], { address: addr });
        }
      } else if (typeof args[0] === 'number' && (typeof args[1] !== 'string' || any(args[1]))) {
        // bind(port[, address][, callback])
        if (typeof args[1] === 'string') {
          args[1] = addr;
        } else {
          args.splice(1, 0, addr);
        }
      }
      return origBind.apply(this, args);
    };
  }
  proto.addMembership = function (group) {
    try {
      return origAddMembership.call(this, group, addr);
    } catch (e) {
      process.stderr.write(`warning: cannot join ${group} on ${addr}: ${e.message}\n`);
    }
  };
}

function isIPv4(s) {
  const parts = String(s).split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

function isHex(s, bytes) {
  return typeof s === 'string' && /^([0-9a-fA-F]{2})*$/.test(s) && (bytes === undefined || s.length === bytes * 2);
}

/// Walks the OPC/EPC/PDC/EDT list of a frame exactly as it was on the wire.
/// `opcHex` and `detailHex` are echonet-lite's `els.OPC` and `els.DETAIL`.
/// Returns [{epc: 'E0', edt: '00BC614E'}...] (upper case), or throws on a short frame.
function parseProps(opcHex, detailHex) {
  const opc = parseInt(opcHex, 16);
  const b = Buffer.from(detailHex, 'hex');
  const out = [];
  let i = 0;
  for (let n = 0; n < opc; n++) {
    if (i + 2 > b.length) throw new Error(`frame ends inside property ${n}`);
    const epc = b[i];
    const pdc = b[i + 1];
    if (i + 2 + pdc > b.length) throw new Error(`EDT of ${hex2(epc)} runs past the frame`);
    out.push({ epc: hex2(epc), edt: b.subarray(i + 2, i + 2 + pdc).toString('hex').toUpperCase() });
    i += 2 + pdc;
  }
  return out;
}

function hex2(n) {
  return n.toString(16).padStart(2, '0').toUpperCase();
}

/// Encodes a property map: format 1 (count + EPCs) below 16 properties, else the
/// 17-byte bitmap of format 2, as the ECHONET Lite specification lays out.
function encodePropertyMap(epcs) {
  const sorted = [...new Set(epcs)].sort((a, b) => a - b);
  if (sorted.length < 16) {
    return [sorted.length, ...sorted];
  }
  const bitmap = new Array(16).fill(0);
  for (const epc of sorted) {
    const low = epc & 0x0f;
    const bit = (epc >> 4) - 8; // 0x8X -> bit 0 ... 0xFX -> bit 7
    bitmap[low] |= 1 << bit;
  }
  return [sorted.length, ...bitmap];
}

/// Minimal argv parser: positional arguments and --name value / --flag.
function parseArgv(argv, spec) {
  const out = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') {
      out.help = true;
    } else if (a.startsWith('--')) {
      const name = a.slice(2);
      if (!(name in spec)) throw new Error(`unknown option ${a}`);
      if (spec[name] === 'flag') {
        out[name] = true;
      } else {
        if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
        const v = argv[++i];
        if (spec[name] === 'multi') {
          (out[name] = out[name] || []).push(v);
        } else {
          out[name] = v;
        }
      }
    } else {
      out._.push(a);
    }
  }
  return out;
}

module.exports = { PORT, SEND_PORT, pinToAddress, isIPv4, isHex, parseProps, hex2, encodePropertyMap, parseArgv };
