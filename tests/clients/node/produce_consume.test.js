'use strict'
// kafkajs: 10 000 keyed records per compression codec into a 3-partition
// topic, read back by partition (no consumer group), checked, ListOffsets by
// time, topic deleted.

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const { withBroker } = require('./broker')
const { CODECS, kafka, producer, readPartition, Partitioners } = require('./kjs')
const { makeRecords, checkConsumed, timeQueries, expectedOffsetForTime } = require('./data')

const N_PARTITIONS = 3
const CHUNK = 1000

describe('kafkajs produce/consume 10k records', () => {
  for (const [name, compression] of Object.entries(CODECS)) {
    test(`codec ${name}`, { timeout: 120000 }, () =>
      withBroker(async broker => {
        const topic = `kafkajs-${name}`
        const k = kafka(broker.bootstrap)
        const admin = k.admin()
        await admin.connect()
        try {
          assert.equal(
            await admin.createTopics({
              topics: [{ topic, numPartitions: N_PARTITIONS, replicationFactor: 1 }],
              waitForLeaders: true,
            }),
            true
          )
          const md = await admin.fetchTopicMetadata({ topics: [topic] })
          const partitionMetadata = md.topics[0].partitions
          assert.deepEqual(partitionMetadata.map(p => p.partitionId).sort(), [0, 1, 2])

          // produce in order, in chunks; per chunk and partition the records
          // get consecutive offsets from the partition's baseOffset
          const recs = makeRecords(`kafkajs-${name}`)
          const baseTs = recs[0].timestamp
          const partitioner = Partitioners.DefaultPartitioner()
          const acked = new Map()
          const p = producer(k)
          await p.connect()
          try {
            for (let start = 0; start < recs.length; start += CHUNK) {
              const chunk = recs.slice(start, start + CHUNK)
              const messages = chunk.map(r => ({
                key: r.key,
                value: r.value,
                headers: r.headers,
                timestamp: String(r.timestamp),
              }))
              const result = await p.send({ topic, acks: -1, compression, messages })
              const base = Object.fromEntries(result.map(m => [m.partition, Number(m.baseOffset)]))
              for (const m of result) assert.equal(m.errorCode, 0, `produce error ${JSON.stringify(m)}`)
              const next = {}
              chunk.forEach((r, j) => {
                const part = partitioner({ topic, partitionMetadata, message: messages[j] })
                assert.ok(part in base, `no produce result for partition ${part}`)
                next[part] = (next[part] ?? base[part])
                acked.set(r.index, [part, next[part]++])
              })
            }
          } finally {
            await p.disconnect()
          }

          const counts = [0, 0, 0]
          for (const [part] of acked.values()) counts[part]++
          const got = {}
          for (let part = 0; part < N_PARTITIONS; part++) {
            got[part] = await readPartition(broker.bootstrap, topic, part, counts[part])
          }
          const entries = checkConsumed(recs, got, N_PARTITIONS, acked)

          // ListOffsets earliest/latest
          const offsets = await admin.fetchTopicOffsets(topic)
          for (const o of offsets) {
            assert.equal(Number(o.low), 0, `partition ${o.partition} low watermark`)
            assert.equal(Number(o.high), counts[o.partition], `partition ${o.partition} high watermark`)
          }
          assert.equal(offsets.length, N_PARTITIONS)

          // ListOffsets by timestamp; kafkajs answers "none" with the high watermark
          for (const q of timeQueries(baseTs)) {
            const res = await admin.fetchTopicOffsetsByTimestamp(topic, q)
            assert.equal(res.length, N_PARTITIONS)
            for (const { partition, offset } of res) {
              const want = expectedOffsetForTime(entries[partition], q)
              assert.equal(
                Number(offset),
                want === null ? counts[partition] : want,
                `fetchTopicOffsetsByTimestamp(base+${q - baseTs}) partition ${partition}`
              )
            }
          }

          await admin.deleteTopics({ topics: [topic], timeout: 10000 })
          const deadline = Date.now() + 10000
          while ((await admin.listTopics()).includes(topic)) {
            assert.ok(Date.now() < deadline, `${topic} still listed 10 s after DeleteTopics`)
            await new Promise(resolve => setTimeout(resolve, 100))
          }
        } finally {
          await admin.disconnect()
        }
      })
    )
  }
})
