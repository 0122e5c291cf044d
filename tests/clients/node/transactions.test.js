'use strict'
// kafkajs transactions: a transactional producer commits and aborts; kafkajs's consumer (a
// group, read_committed by default) sees the committed records only, one with readUncommitted
// sees all; a second producer with the same transactional id fences the first.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { withBroker } = require('./broker')
const { kafka, producer } = require('./kjs')

// Every value of the topic a kafkajs consumer (group `groupId`, from the beginning) receives
// within `settleMs` of the last one; kafkajs's consumer reads at read_committed unless
// readUncommitted is set, and drops aborted records and markers itself.
async function consumeAll(k, topic, groupId, readUncommitted, settleMs = 1500) {
  const c = k.consumer({ groupId, readUncommitted, maxWaitTimeInMs: 100 })
  await c.connect()
  await c.subscribe({ topic, fromBeginning: true })
  const values = []
  let last = Date.now()
  await c.run({ eachMessage: async ({ message }) => { values.push(message.value.toString()); last = Date.now() } })
  const deadline = Date.now() + 30000
  while (Date.now() < deadline && (values.length === 0 || Date.now() - last < settleMs)) {
    await new Promise(r => setTimeout(r, 100))
  }
  await c.disconnect()
  return values
}

test('transactional producer: commit, abort, fencing', { timeout: 120000 }, () =>
  withBroker(async broker => {
    const topic = 'kjs-txn'
    const k = kafka(broker.bootstrap)
    const admin = k.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] })
    await admin.disconnect()

    const p = producer(k, { transactionalId: 'kjs-1', idempotent: true, maxInFlightRequests: 1 })
    await p.connect()
    let t = await p.transaction()
    await t.send({ topic, messages: [{ value: 'keep-1' }, { value: 'keep-2' }] })
    await t.commit()
    t = await p.transaction()
    await t.send({ topic, messages: [{ value: 'drop-1' }] })
    await t.abort()
    t = await p.transaction()
    await t.send({ topic, messages: [{ value: 'keep-3' }] })
    await t.commit()

    // A new producer with the same id fences the old one.
    const p2 = producer(k, { transactionalId: 'kjs-1', idempotent: true, maxInFlightRequests: 1 })
    await p2.connect()
    const t2 = await p2.transaction()
    await t2.send({ topic, messages: [{ value: 'keep-4' }] })
    await t2.commit()
    await assert.rejects(async () => {
      const z = await p.transaction()
      await z.send({ topic, messages: [{ value: 'zombie' }] })
      await z.commit()
    })
    await p.disconnect().catch(() => {})
    await p2.disconnect()

    const committed = await consumeAll(k, topic, 'kjs-rc', false)
    assert.deepEqual(committed, ['keep-1', 'keep-2', 'keep-3', 'keep-4'])
    const all = await consumeAll(k, topic, 'kjs-ru', true)
    assert.deepEqual(all, ['keep-1', 'keep-2', 'drop-1', 'keep-3', 'keep-4'])
  }))
