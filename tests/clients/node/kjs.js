'use strict'
// kafkajs set up for kavka: compression codecs registered, kafkajs's defaults (not idempotent),
// and a partition-assignment "consumer" built from kafkajs's own Fetch
// implementation (kafkajs's Consumer always joins a group, which kavka does
// not support yet).

const { Kafka, CompressionTypes, CompressionCodecs, Partitioners, logLevel } = require('kafkajs')
const Cluster = require('kafkajs/src/cluster')
const { createLogger } = require('kafkajs/src/loggers')
const LoggerConsole = require('kafkajs/src/loggers/console')
const ISOLATION_LEVEL = require('kafkajs/src/protocol/isolationLevel')
const defaultSocketFactory = require('kafkajs/src/network/socketFactory')
const SnappyCodec = require('kafkajs-snappy')
const LZ4Codec = require('@2l/kafkajs-lz4')
const zstd = require('@mongodb-js/zstd')

CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
CompressionCodecs[CompressionTypes.LZ4] = new LZ4Codec().codec
// @kafkajs/zstd needs a native build (cppzst); @mongodb-js/zstd ships a
// prebuilt N-API binary, wrapped here in the codec interface kafkajs expects.
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  async compress(encoder) {
    return zstd.compress(encoder.buffer, 3)
  },
  async decompress(buffer) {
    return zstd.decompress(buffer)
  },
})

const CODECS = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
}

const LOG_LEVEL = logLevel.WARN

function kafka(bootstrap, extra = {}) {
  return new Kafka({
    clientId: 'kavka-tests',
    brokers: [bootstrap],
    logLevel: LOG_LEVEL,
    connectionTimeout: 3000,
    requestTimeout: 15000,
    retry: { retries: 3, initialRetryTime: 100 },
    ...extra,
  })
}

function producer(k, extra = {}) {
  return k.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
    ...extra,
  })
}

// A bare kafkajs Cluster: metadata, broker lookup and the Fetch API.
async function cluster(bootstrap) {
  const c = new Cluster({
    logger: createLogger({ level: LOG_LEVEL, logCreator: LoggerConsole }),
    socketFactory: defaultSocketFactory(),
    brokers: [bootstrap],
    clientId: 'kavka-tests-fetch',
    connectionTimeout: 3000,
    requestTimeout: 30000,
    retry: { retries: 3, initialRetryTime: 100 },
    allowAutoTopicCreation: false,
    isolationLevel: ISOLATION_LEVEL.READ_UNCOMMITTED,
  })
  await c.connect()
  return c
}

async function leaderFor(c, topic, partition) {
  await c.addTargetTopic(topic)
  await c.refreshMetadata()
  const byNode = c.findLeaderForPartitions(topic, [partition])
  const nodeIds = Object.keys(byNode)
  if (nodeIds.length !== 1) throw new Error(`no leader for ${topic}/${partition}: ${JSON.stringify(byNode)}`)
  return c.findBroker({ nodeId: nodeIds[0] })
}

// One Fetch request for topic/partition at `offset`; returns the records at
// offsets >= offset (a batch may start before it) and the partition header.
async function fetchOnce(broker, topic, partition, offset, { maxWaitTime = 100, minBytes = 1 } = {}) {
  const resp = await broker.fetch({
    replicaId: -1,
    isolationLevel: ISOLATION_LEVEL.READ_UNCOMMITTED,
    maxWaitTime,
    minBytes,
    maxBytes: 8 * 1024 * 1024,
    topics: [{ topic, partitions: [{ partition, fetchOffset: String(offset), maxBytes: 2 * 1024 * 1024 }] }],
  })
  const [t] = resp.responses
  const [p] = t.partitions
  if (p.errorCode !== 0) throw new Error(`Fetch ${topic}/${partition}@${offset}: error code ${p.errorCode}`)
  const messages = p.messages.filter(m => BigInt(m.offset) >= BigInt(offset) && !m.isControlRecord)
  return { messages, highWatermark: Number(p.highWatermark), partition: p }
}

// Reads topic/partition from offset 0 up to (excluding) `end`.
async function readPartition(bootstrap, topic, partition, end, timeoutMs = 60000) {
  const c = await cluster(bootstrap)
  try {
    const broker = await leaderFor(c, topic, partition)
    const out = []
    let offset = 0
    const deadline = Date.now() + timeoutMs
    while (offset < end) {
      if (Date.now() > deadline) throw new Error(`read only up to offset ${offset}/${end} of ${topic}/${partition}`)
      const { messages } = await fetchOnce(broker, topic, partition, offset)
      if (messages.length === 0) continue
      out.push(...messages)
      offset = Number(messages[messages.length - 1].offset) + 1
    }
    return out
  } finally {
    await c.disconnect()
  }
}

// The error "type" (Kafka error name) anywhere in a kafkajs error chain.
function errorTypes(e) {
  const types = []
  const seen = new Set()
  const walk = x => {
    if (!x || typeof x !== 'object' || seen.has(x)) return
    seen.add(x)
    if (x.type) types.push(x.type)
    walk(x.originalError)
    walk(x.cause)
    if (Array.isArray(x.errors)) x.errors.forEach(walk)
  }
  walk(e)
  return types
}

module.exports = { CODECS, kafka, producer, cluster, leaderFor, fetchOnce, readPartition, errorTypes, Partitioners }
