'use strict'
// kafkajs: acks=0 / acks=1 produce, and a long-polling Fetch.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { withBroker } = require('./broker')
const { kafka, producer, readPartition, cluster, leaderFor, fetchOnce } = require('./kjs')
const { makeRecords, checkConsumed } = require('./data')

async function createTopic(k, topic, numPartitions = 1) {
  const admin = k.admin()
  await admin.connect()
  try {
    assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions, replicationFactor: 1 }] }), true)
  } finally {
    await admin.disconnect()
  }
}

for (const acks of [0, 1]) {
  test(`produce with acks=${acks}`, { timeout: 60000 }, () =>
    withBroker(async broker => {
      const topic = `acks-${acks}`
      const k = kafka(broker.bootstrap)
      await createTopic(k, topic)
      const recs = makeRecords(`kafkajs-acks${acks}`, 500)
      const p = producer(k)
      await p.connect()
      try {
        for (let start = 0; start < recs.length; start += 100) {
          const result = await p.send({
            topic,
            acks,
            messages: recs.slice(start, start + 100).map(r => ({
              key: r.key,
              value: r.value,
              headers: r.headers,
              timestamp: String(r.timestamp),
            })),
          })
          if (acks === 1) {
            assert.equal(result.length, 1)
            assert.equal(result[0].errorCode, 0)
            assert.equal(Number(result[0].baseOffset), start)
          }
        }
      } finally {
        await p.disconnect()
      }
      const msgs = await readPartition(broker.bootstrap, topic, 0, recs.length, 30000)
      checkConsumed(recs, { 0: msgs }, 1)
    })
  )
}

test('a long-polling fetch on an empty partition returns a record produced 1 s later', { timeout: 60000 }, () =>
  withBroker(async broker => {
    const topic = 'long-poll'
    const k = kafka(broker.bootstrap)
    await createTopic(k, topic)
    const p = producer(k)
    await p.connect()
    const c = await cluster(broker.bootstrap)
    try {
      const leader = await leaderFor(c, topic, 0)
      // an empty partition with a short wait answers with nothing
      const empty = await fetchOnce(leader, topic, 0, 0, { maxWaitTime: 200 })
      assert.equal(empty.messages.length, 0)
      assert.equal(empty.highWatermark, 0)

      const started = Date.now()
      const fetching = fetchOnce(leader, topic, 0, 0, { maxWaitTime: 10000, minBytes: 1 })
      const producing = new Promise(resolve => setTimeout(resolve, 1000)).then(() =>
        p.send({ topic, acks: -1, messages: [{ key: 'k', value: 'late record' }] })
      )
      const res = await fetching
      const elapsed = Date.now() - started
      await producing
      assert.equal(res.messages.length, 1, `fetch returned after ${elapsed} ms with no record`)
      assert.equal(String(res.messages[0].value), 'late record')
      assert.equal(res.messages[0].offset, '0')
      assert.ok(elapsed >= 900, `fetch returned after ${elapsed} ms, before the record was produced`)
      assert.ok(elapsed < 5000, `fetch returned after ${elapsed} ms (max wait 10 s): not woken by the produce`)
    } finally {
      await c.disconnect()
      await p.disconnect()
    }
  })
)
