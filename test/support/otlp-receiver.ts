import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs';

/** One span as the collector would store it, from either OTLP/HTTP encoding. */
export interface ReceivedSpan {
  service: string;
  resource: Record<string, unknown>;
  scope: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** OTLP's SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, unknown>;
  events: Array<{ name: string; attributes: Record<string, unknown> }>;
  /** OTLP's StatusCode: 0 unset, 1 ok, 2 error. */
  status: { code: number; message?: string };
}

// The OTLP trace request, from opentelemetry-proto (collector/trace/v1, trace/v1, common/v1,
// resource/v1): only the messages and fields a span needs. Field numbers as published there.
const OTLP_PROTO = `
syntax = "proto3";
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4;
  string name = 5; int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9; uint32 dropped_attributes_count = 10; repeated Event events = 11;
  uint32 dropped_events_count = 12; repeated Link links = 13; uint32 dropped_links_count = 14;
  Status status = 15; fixed32 flags = 16;
}
message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; }
message Link { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; repeated KeyValue attributes = 4; }
message Status { string message = 2; int32 code = 3; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue {
  oneof value {
    string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
    ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
`;
const ExportRequest = protobuf.parse(OTLP_PROTO, { keepCase: false }).root.lookupType('ExportTraceServiceRequest');

type Json = Record<string, any>;

function anyValue(value: Json | undefined): unknown {
  if (!value) return undefined;
  if ('stringValue' in value) return value.stringValue;
  if ('boolValue' in value) return value.boolValue;
  if ('intValue' in value) return Number(value.intValue);
  if ('doubleValue' in value) return value.doubleValue;
  if ('arrayValue' in value) return (value.arrayValue.values ?? []).map(anyValue);
  if ('kvlistValue' in value) return keyValues(value.kvlistValue.values);
  return undefined;
}

const keyValues = (list: Json[] | undefined) =>
  Object.fromEntries((list ?? []).map((kv) => [kv.key, anyValue(kv.value)]));

/** JSON ids are hex; protobuf's (decoded with bytes as base64 strings) are converted to hex. */
const hexId = (id: string | undefined, binary: boolean) =>
  !id ? undefined : binary ? Buffer.from(id, 'base64').toString('hex') : id.toLowerCase();

function toSpans(request: Json, binary: boolean): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const rs of request.resourceSpans ?? []) {
    const resource = keyValues(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        const parent = hexId(s.parentSpanId, binary);
        spans.push({
          service: String(resource['service.name']),
          resource,
          scope: ss.scope?.name ?? '',
          traceId: hexId(s.traceId, binary)!,
          spanId: hexId(s.spanId, binary)!,
          ...(parent && { parentSpanId: parent }),
          name: s.name,
          kind: Number(s.kind ?? 0),
          startNs: BigInt(String(s.startTimeUnixNano)),
          endNs: BigInt(String(s.endTimeUnixNano)),
          attributes: keyValues(s.attributes),
          events: (s.events ?? []).map((e: Json) => ({ name: e.name, attributes: keyValues(e.attributes) })),
          status: { code: Number(s.status?.code ?? 0), message: s.status?.message },
        });
      }
    }
  }
  return spans;
}

/**
 * An OTLP/HTTP trace receiver for tests: decodes `http/json` and `http/protobuf` export requests
 * to /v1/traces as an OpenTelemetry Collector would, and keeps every span.
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly contentTypes = new Set<string>();
  readonly rawBodies: string[] = [];
  private readonly server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => this.receive(req, res, Buffer.concat(chunks)));
  });

  static async start(): Promise<OtlpReceiver> {
    const receiver = new OtlpReceiver();
    await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  private receive(req: IncomingMessage, res: ServerResponse, raw: Buffer): void {
    if (req.url !== '/v1/traces') {
      res.writeHead(404).end();
      return;
    }
    const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
    const type = String(req.headers['content-type'] ?? '');
    this.contentTypes.add(type);
    try {
      if (type.startsWith('application/json')) {
        this.rawBodies.push(body.toString('utf8'));
        this.spans.push(...toSpans(JSON.parse(body.toString('utf8')) as Json, false));
      } else {
        const decoded = ExportRequest.toObject(ExportRequest.decode(body), { longs: String, bytes: String });
        this.rawBodies.push(JSON.stringify(decoded));
        this.spans.push(...toSpans(decoded, true));
      }
      res.writeHead(200, { 'content-type': type }).end(type.startsWith('application/json') ? '{}' : '');
    } catch (err) {
      res.writeHead(400).end(String(err));
    }
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  trace(traceId: string): ReceivedSpan[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
