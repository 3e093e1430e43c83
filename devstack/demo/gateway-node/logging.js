// The gateway's pino logger. Lines go to stdout (the launcher keeps them in gateway.log);
// with TRACELINK_GATEWAY_LOGS=kafka each line is also produced to the log topic with
// kafkajs, keyed by its trace_id (all logs of a trace in one partition, as logging_ext does).
'use strict';

const pino = require('pino');
const { Writable } = require('node:stream');
const { logSink } = require('./telemetry');

// pino's numeric levels stay as they are: the shipper reads them (10 trace … 60 fatal).
// A line on Kafka has no OTel resource around it, so it names its service itself.
const kafkaBase = {
  pid: process.pid,
  hostname: require('node:os').hostname(),
  'service.name': process.env.OTEL_SERVICE_NAME || 'gateway',
};

class KafkaLines extends Writable {
  constructor(producer, topic) {
    super({ decodeStrings: false });
    this.producer = producer;
    this.topic = topic;
    this.pending = new Set();
  }

  _write(chunk, _encoding, callback) {
    const line = chunk.toString();
    process.stdout.write(line);
    let key = null;
    try {
      key = JSON.parse(line).trace_id || null;
    } catch {
      key = null;
    }
    const sent = this.producer
      .send({ topic: this.topic, acks: -1, messages: [{ key, value: line.trimEnd() }] })
      .catch((err) => process.stderr.write(`log line not delivered to Kafka: ${err}\n`))
      .finally(() => this.pending.delete(sent));
    this.pending.add(sent);
    callback();
  }

  async flush() {
    await Promise.all([...this.pending]);
  }
}

async function createLogger() {
  if (logSink !== 'kafka') {
    return { logger: pino(), close: async () => {} };
  }
  const { Kafka, logLevel } = require('kafkajs');
  const brokers = (process.env.TRACELINK_KAFKA_BOOTSTRAP || '127.0.0.1:9092').split(',');
  const kafka = new Kafka({ clientId: 'demo-gateway', brokers, logLevel: logLevel.WARN });
  const producer = kafka.producer({ allowAutoTopicCreation: true });
  await producer.connect();
  // One topic: the launcher passes the first of a TRACELINK_LOG_TOPIC list
  // (tracelink.topics.produce_topic), the topic every producer of the stack writes to.
  const stream = new KafkaLines(producer, process.env.TRACELINK_LOG_TOPIC || 'logs');
  const logger = pino({ base: kafkaBase }, stream);
  return {
    logger,
    close: async () => {
      await stream.flush();
      await producer.disconnect();
    },
  };
}

module.exports = { createLogger };
