'use strict'
// kafkajs with idempotent: true (kafkajs's own default is false; an exactly-once user turns
// it on): InitProducerId, sequenced batches over three partitions, and a broker restart in the
// middle that the producer's sequences must survive (the broker rebuilds its producer state).

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { withBroker } = require('./broker')
const { kafka, producer, readPartition } = require('./kjs')

test('idempotent producer: every record once, in order, across a broker restart', { timeout: 120000 }, () =>
  withBroker(async broker => {
    const topic = 'kjs-idem'
    const k = kafka(broker.bootstrap, { retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 } })
    const admin = k.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }] })
    await admin.disconnect()

    const p = producer(k, { idempotent: true, maxInFlightRequests: 1 })
    await p.connect()
    const sent = [[], [], []]
    const sendRound = async round => {
      for (let b = 0; b < 5; b++) {
        const messages = []
        for (let i = 0; i < 60; i++) {
          const partition = i % 3
          const value = `r${round}-b${b}-m${i}`
          sent[partition].push(value)
          messages.push({ partition, value })
        }
        const result = await p.send({ topic, acks: -1, messages })
        for (const r of result) assert.equal(r.errorCode, 0)
      }
    }
    try {
      await sendRound(0)
      await broker.stop()
      await broker.start()
      await sendRound(1)
      await broker.kill()
      await broker.start()
      await sendRound(2)
    } finally {
      await p.disconnect()
    }
    for (let partition = 0; partition < 3; partition++) {
      const msgs = await readPartition(broker.bootstrap, topic, partition, sent[partition].length, 30000)
      assert.deepEqual(msgs.map(m => m.value.toString()), sent[partition], `partition ${partition}`)
      assert.deepEqual(msgs.map(m => Number(m.offset)), sent[partition].map((_, i) => i))
    }
  }))
