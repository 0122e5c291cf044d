'use strict'
// kafkajs admin API and topic (auto-)creation against kavka.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { ConfigResourceTypes } = require('kafkajs')
const { withBroker } = require('./broker')
const { kafka, producer, errorTypes } = require('./kjs')

async function withAdmin(k, fn) {
  const admin = k.admin({ retry: { retries: 1, initialRetryTime: 100 } })
  await admin.connect()
  try {
    return await fn(admin)
  } finally {
    await admin.disconnect()
  }
}

async function assertRejectsWith(promise, type) {
  await assert.rejects(promise, e => {
    assert.ok(errorTypes(e).includes(type), `expected ${type}, got ${errorTypes(e)}: ${e.message}`)
    return true
  })
}

test('create topic with replication factor 3 fails with INVALID_REPLICATION_FACTOR', { timeout: 60000 }, () =>
  withBroker(broker =>
    withAdmin(kafka(broker.bootstrap), async admin => {
      await assertRejectsWith(
        admin.createTopics({ topics: [{ topic: 'rf3', numPartitions: 1, replicationFactor: 3 }] }),
        'INVALID_REPLICATION_FACTOR'
      )
      assert.ok(!(await admin.listTopics()).includes('rf3'))
    })
  )
)

test('create topic with an invalid name fails with INVALID_TOPIC_EXCEPTION', { timeout: 60000 }, () =>
  withBroker(broker =>
    withAdmin(kafka(broker.bootstrap), async admin => {
      for (const name of ['bad name!', 'a'.repeat(250), '..']) {
        await assertRejectsWith(
          admin.createTopics({ topics: [{ topic: name, numPartitions: 1, replicationFactor: 1 }] }),
          'INVALID_TOPIC_EXCEPTION'
        )
      }
      assert.deepEqual(await admin.listTopics(), [])
    })
  )
)

test('creating an existing topic reports TOPIC_ALREADY_EXISTS (createTopics -> false)', { timeout: 60000 }, () =>
  withBroker(broker =>
    withAdmin(kafka(broker.bootstrap), async admin => {
      const topics = [{ topic: 'twice', numPartitions: 2, replicationFactor: 1 }]
      assert.equal(await admin.createTopics({ topics }), true)
      assert.equal(await admin.createTopics({ topics }), false)
      const md = await admin.fetchTopicMetadata({ topics: ['twice'] })
      assert.equal(md.topics[0].partitions.length, 2)
    })
  )
)

test('describeCluster and describeConfigs', { timeout: 60000 }, () =>
  withBroker(broker =>
    withAdmin(kafka(broker.bootstrap), async admin => {
      const cluster = await admin.describeCluster()
      assert.equal(cluster.brokers.length, 1)
      assert.equal(cluster.brokers[0].host, '127.0.0.1')
      assert.equal(cluster.brokers[0].port, broker.port)
      assert.equal(cluster.controller, cluster.brokers[0].nodeId)
      assert.ok(cluster.clusterId, 'cluster id')

      await admin.createTopics({
        topics: [
          {
            topic: 'configured',
            numPartitions: 1,
            replicationFactor: 1,
            configEntries: [{ name: 'retention.ms', value: '5400000' }],
          },
        ],
      })
      const res = await admin.describeConfigs({
        resources: [{ type: ConfigResourceTypes.TOPIC, name: 'configured' }],
        includeSynonyms: false,
      })
      assert.equal(res.resources.length, 1)
      const [r] = res.resources
      assert.equal(r.errorCode, 0)
      const entries = Object.fromEntries(r.configEntries.map(e => [e.configName, e]))
      assert.equal(entries['retention.ms']?.configValue, '5400000')
      assert.equal(entries['cleanup.policy']?.configValue, 'delete')
      assert.equal(entries['cleanup.policy'].isDefault, true)
    })
  )
)

test('producing to a new topic auto-creates it (num.partitions applies)', { timeout: 60000 }, () =>
  withBroker({ 'num.partitions': '2' }, async broker => {
    const k = kafka(broker.bootstrap)
    const p = producer(k, { allowAutoTopicCreation: true })
    await p.connect()
    try {
      const [res] = await p.send({ topic: 'auto-created', acks: -1, messages: [{ value: 'hello', partition: 1 }] })
      assert.equal(res.errorCode, 0)
      assert.equal(res.partition, 1)
      assert.equal(res.baseOffset, '0')
    } finally {
      await p.disconnect()
    }
    await withAdmin(k, async admin => {
      const md = await admin.fetchTopicMetadata({ topics: ['auto-created'] })
      assert.equal(md.topics[0].partitions.length, 2)
    })
  })
)

test('producing to a missing topic without auto-creation fails with UNKNOWN_TOPIC_OR_PARTITION', { timeout: 60000 }, () =>
  withBroker({ 'auto.create.topics.enable': 'false' }, async broker => {
    const k = kafka(broker.bootstrap, { retry: { retries: 1, initialRetryTime: 100 } })
    // even a producer that asks for auto-creation must not get the topic
    const p = producer(k, { allowAutoTopicCreation: true, retry: { retries: 1, initialRetryTime: 100 } })
    await p.connect()
    try {
      await assertRejectsWith(
        p.send({ topic: 'missing', acks: -1, messages: [{ value: 'x' }] }),
        'UNKNOWN_TOPIC_OR_PARTITION'
      )
    } finally {
      await p.disconnect()
    }
    await withAdmin(k, async admin => {
      assert.ok(!(await admin.listTopics()).includes('missing'))
    })
  })
)
