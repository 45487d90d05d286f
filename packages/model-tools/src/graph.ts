import { DataType, onnxTypes, type DataTypeValue } from './onnx-schema.js';

type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

interface AttrMessage {
  name: string;
  type: number;
  i?: number;
  f?: number;
  ints?: number[];
  floats?: number[];
  s?: Uint8Array;
}

const ATTR = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

function attribute(name: string, value: AttrValue): AttrMessage {
  if (typeof value === 'string') return { name, type: ATTR.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') return { name, type: ATTR.INT, i: value };
  if (Array.isArray(value)) return { name, type: ATTR.INTS, ints: value };
  if ('float' in value) return { name, type: ATTR.FLOAT, f: value.float };
  return { name, type: ATTR.FLOATS, floats: value.floats };
}

/** A minimal ONNX graph builder: initializers, nodes with generated names, typed inputs/outputs. */
export class GraphBuilder {
  private readonly nodes: object[] = [];
  private readonly initializers: object[] = [];
  private readonly inputs: object[] = [];
  private readonly outputs: object[] = [];
  private readonly constants = new Map<string, string>();
  private counter = 0;

  fresh(hint: string): string {
    return `${hint}_${this.counter++}`;
  }

  initializer(name: string, dataType: DataTypeValue, dims: number[], raw: Uint8Array): string {
    this.initializers.push({ name, data_type: dataType, dims, raw_data: raw });
    return name;
  }

  float(name: string, dims: number[], data: Float32Array): string {
    return this.initializer(name, DataType.FLOAT, dims, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  /** A shared scalar or 1-D constant (deduplicated by value). */
  constFloat(values: number[], dims: number[] = []): string {
    const key = `f:${dims.join(',')}:${values.join(',')}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.float(this.fresh('const_f'), dims, Float32Array.from(values));
      this.constants.set(key, name);
    }
    return name;
  }

  constInt64(values: number[], dims: number[] = [values.length]): string {
    const key = `i64:${dims.join(',')}:${values.join(',')}`;
    let name = this.constants.get(key);
    if (!name) {
      const data = BigInt64Array.from(values.map((v) => BigInt(v)));
      name = this.initializer(this.fresh('const_i64'), DataType.INT64, dims, new Uint8Array(data.buffer));
      this.constants.set(key, name);
    }
    return name;
  }

  constInt8(value: number): string {
    const key = `i8:${value}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.initializer(this.fresh('const_i8'), DataType.INT8, [], new Uint8Array(Int8Array.of(value).buffer));
      this.constants.set(key, name);
    }
    return name;
  }

  node(
    op: string,
    inputs: string[],
    attrs: Record<string, AttrValue> = {},
    options: { outputs?: number; domain?: string; name?: string } = {},
  ): string[] {
    const base = options.name ?? this.fresh(op);
    const outputs = Array.from({ length: options.outputs ?? 1 }, (_, i) =>
      i === 0 ? `${base}_out` : `${base}_out${i}`,
    );
    this.nodes.push({
      name: base,
      op_type: op,
      domain: options.domain ?? '',
      input: inputs,
      output: outputs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outputs;
  }

  /** One-output node shorthand. */
  op(
    op: string,
    inputs: string[],
    attrs: Record<string, AttrValue> = {},
    options: { domain?: string; name?: string } = {},
  ): string {
    return this.node(op, inputs, attrs, options)[0]!;
  }

  /** Renames the output of the last node (graph outputs need fixed names). */
  renameLastOutput(name: string): void {
    const last = this.nodes[this.nodes.length - 1] as { output: string[] };
    last.output[0] = name;
  }

  input(name: string, elemType: DataTypeValue, dims: (number | string)[]): string {
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  output(name: string, elemType: DataTypeValue, dims: (number | string)[]): void {
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  encode(options: {
    opsets: Record<string, number>;
    producer: string;
    docString?: string;
    metadata?: Record<string, string>;
  }): Uint8Array {
    const { ModelProto } = onnxTypes();
    const model = {
      ir_version: 8,
      producer_name: options.producer,
      producer_version: '0.1.0',
      doc_string: options.docString ?? '',
      opset_import: Object.entries(options.opsets).map(([domain, version]) => ({ domain, version })),
      metadata_props: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: {
        name: 'encoder',
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    };
    return ModelProto.encode(ModelProto.fromObject(model)).finish();
  }
}

function valueInfo(name: string, elemType: number, dims: (number | string)[]): object {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}
