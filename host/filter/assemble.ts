// From a checked filter tree to the program the core runs (format in
// assembly/layout.ts): a header, then the data (names, addresses, automata),
// then the code. (all ...) and (any ...) become forward jumps past the rest of
// their tests as soon as the answer is known, so the core needs no stack.
import * as L from "../../assembly/layout";
import type { Filter } from "./analyze";
import type { Automaton } from "./automaton";
import { cheapestFirst } from "./cost";
import { FilterError } from "./errors";

// A program larger than this is refused rather than copied into the core.
export const MAX_PROGRAM_BYTES = 64 << 20;

const TRANSPORT_BITS = { udp: 1 << L.TRANSPORT_UDP, tcp: 1 << L.TRANSPORT_TCP, ws: 1 << L.TRANSPORT_WS };

export function assemble(filter: Filter): Uint8Array {
  const a = new Assembler();
  a.filter(filter);
  a.op(L.OP_END);
  return a.program();
}

class Assembler {
  private readonly code: number[] = [];
  private readonly data: Uint8Array[] = [];
  private dataBytes = 0;

  program(): Uint8Array {
    if (this.code.length > L.FILTER_MAX_CODE_WORDS) {
      throw new FilterError(`the filter compiles to ${this.code.length} instruction words, more than the core's ${L.FILTER_MAX_CODE_WORDS}; split it or use fewer arguments`);
    }
    const codeAt = L.FP_HEADER_SIZE + align4(this.dataBytes);
    const length = codeAt + this.code.length * 4;
    if (length > MAX_PROGRAM_BYTES) {
      throw new FilterError(`the filter compiles to ${length} bytes, more than ${MAX_PROGRAM_BYTES}; use fewer or simpler regular expressions`);
    }
    const out = new Uint8Array(length);
    const view = new DataView(out.buffer);
    view.setUint32(L.FP_MAGIC, L.FILTER_MAGIC, true);
    view.setUint32(L.FP_FORMAT, L.FILTER_FORMAT, true);
    view.setUint32(L.FP_LENGTH, length, true);
    view.setUint32(L.FP_CODE, codeAt, true);
    view.setUint32(L.FP_CODE_WORDS, this.code.length, true);
    let at = L.FP_HEADER_SIZE;
    for (const chunk of this.data) {
      out.set(chunk, at);
      at += chunk.length;
    }
    this.code.forEach((word, i) => view.setUint32(codeAt + i * 4, word >>> 0, true));
    return out;
  }

  op(opcode: number, ...operands: number[]): void {
    this.code.push(opcode | ((1 + operands.length) << 8), ...operands);
  }

  // Appends bytes to the data area, 4-byte aligned; returns their program offset.
  private put(bytes: Uint8Array): number {
    const at = L.FP_HEADER_SIZE + this.dataBytes;
    const padded = new Uint8Array(align4(bytes.length));
    padded.set(bytes);
    this.data.push(padded);
    this.dataBytes += padded.length;
    return at;
  }

  private text(s: string): [offset: number, length: number] {
    const bytes = Buffer.from(s, "latin1");
    return [this.put(bytes), bytes.length];
  }

  private automaton(dfa: Automaton): number {
    const tableAt = L.DFA_AT_END + align4(dfa.states);
    const bytes = new Uint8Array(tableAt + dfa.table.length * 4);
    const view = new DataView(bytes.buffer);
    view.setUint32(L.DFA_CLASSES, dfa.classes, true);
    view.setUint32(L.DFA_STATES, dfa.states, true);
    view.setUint32(L.DFA_START, dfa.start, true);
    bytes.set(dfa.classOf, L.DFA_CLASS_OF);
    bytes.set(dfa.acceptsAtEnd, L.DFA_AT_END);
    dfa.table.forEach((value, i) => view.setUint32(tableAt + i * 4, value, true));
    return this.put(bytes);
  }

  filter(f: Filter): void {
    switch (f.kind) {
      case "true": return this.op(L.OP_TRUE);
      case "request": return this.op(L.OP_REQUEST);
      case "response": return this.op(L.OP_RESPONSE);
      case "has-sdp": return this.op(L.OP_HAS_SDP);
      case "method":
        return this.op(L.OP_METHOD, f.methods.length, ...f.methods.flatMap((m) => this.text(m)));
      case "status":
        return this.op(L.OP_STATUS, f.codes.length, ...f.codes.flatMap((c) => [c.low, c.high]));
      case "hasheader":
        return this.op(L.OP_HEADER, f.header.id, ...this.text(f.header.name.toLowerCase()), 0);
      case "header":
        return this.op(L.OP_HEADER, f.header.id, ...this.text(f.header.name.toLowerCase()), this.automaton(f.pattern.automaton));
      case "body": return this.op(L.OP_BODY, this.automaton(f.pattern.automaton));
      case "message": return this.op(L.OP_MESSAGE, this.automaton(f.pattern.automaton));
      case "address":
        return this.op(L.OP_ADDRESS, f.side === "src" ? 0 : 1, f.network.version, f.network.bits,
          this.put(f.network.bytes), f.port ?? L.FILTER_ANY_PORT);
      case "port": return this.op(L.OP_PORT, f.ports.length, ...f.ports);
      case "transport":
        return this.op(L.OP_TRANSPORT, f.transports.reduce((mask, t) => mask | TRANSPORT_BITS[t], 0));
      case "not":
        this.filter(f.item);
        return this.op(L.OP_NOT);
      case "all": return this.shortCircuit(f.items, L.OP_JUMP_IF_FALSE);
      case "any": return this.shortCircuit(f.items, L.OP_JUMP_IF_TRUE);
    }
  }

  // Each test but the last is followed by a jump to the end taken when the
  // answer is settled: a no for (all ...), a yes for (any ...).
  private shortCircuit(items: Filter[], jump: number): void {
    const ordered = cheapestFirst(items);
    const patches: number[] = [];
    ordered.forEach((item, i) => {
      this.filter(item);
      if (i === ordered.length - 1) return;
      this.op(jump, 0);
      patches.push(this.code.length - 1);
    });
    for (const at of patches) this.code[at] = this.code.length;
  }
}

function align4(n: number): number {
  return (n + 3) & ~3;
}
