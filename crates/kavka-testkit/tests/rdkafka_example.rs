use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;

#[tokio::test]
async fn produce_then_consume() -> Result<(), Box<dyn std::error::Error>> {
    let broker = kavka_testkit::Broker::builder()
        .topic("events", 3)
        .start()
        .await?;

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()?;
    for i in 0..10 {
        let key = format!("user{}", i % 3);
        let value = format!("event {i}");
        producer
            .send(
                FutureRecord::to("events").key(&key).payload(&value),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)?;
    }

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "readers")
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&["events"])?;
    let mut seen = 0;
    while seen < 10 {
        if let Some(message) = consumer.poll(Duration::from_secs(10)) {
            assert!(message?.payload().is_some());
            seen += 1;
        }
    }

    // Clients first: a consumer closing against a stopped broker waits for it.
    drop(consumer);
    drop(producer);
    broker.stop().await?;
    Ok(())
}
