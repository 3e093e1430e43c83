"""The notification service: consumes ``order.events`` and e-mails order confirmations.

Each Kafka message carries the producer's ``traceparent`` header; the consumer span that
processes it continues that trace (a CONSUMER child of the producer's send span, as the
messaging conventions allow for single-message processing), so the confirmation belongs
to the order's trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code
from fastapi import FastAPI
from opentelemetry import propagate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode

from devstack.demo.common import cancel_and_wait, service_app, start_kafka_client
from devstack.demo.settings import DemoSettings

__all__ = ["CONSUMER_GROUP", "create_app"]

log = structlog.get_logger("devstack.demo.notification")

CONSUMER_GROUP: Final = "demo-notification"
_TOPIC_PARTITIONS: Final = 4
# Sent notifications kept for GET /notifications.
_HISTORY: Final = 10_000


class _Notifier:
    def __init__(self, settings: DemoSettings, tracer_provider: TracerProvider) -> None:
        self.settings = settings
        self.tracer = tracer_provider.get_tracer("devstack.demo.notification")
        self.consumer: Any = None
        self.sent: list[dict[str, Any]] = []
        self._mailer = random.Random(f"{settings.demo_seed}:mailer")  # noqa: S311

    @property
    def ready(self) -> bool:
        return self.consumer is not None and bool(self.consumer.assignment())

    async def ensure_topic(self) -> None:
        """Create the events topic unless it exists (the consumer gets no partitions of a
        topic that does not exist yet)."""
        topic = self.settings.demo_events_topic
        admin = AIOKafkaAdminClient(**self.settings.kafka_client_kwargs())
        await admin.start()
        try:
            response = await admin.create_topics([NewTopic(topic, _TOPIC_PARTITIONS, 1)])
        finally:
            await admin.close()
        for entry in response.topic_errors:
            code = entry[1]
            if code == 0:
                log.info("created topic", topic=topic, partitions=_TOPIC_PARTITIONS)
            elif code != TopicAlreadyExistsError.errno:
                # Auto-creation on the first order may still make it; say why it failed.
                log.warning("could not create topic", topic=topic, error=for_code(code).__name__)

    async def run(self) -> None:
        """Connect (retrying while Kafka is down), then process events until cancelled."""
        while True:
            try:
                await self.ensure_topic()
                break
            except KafkaError as exc:
                log.warning("cannot reach Kafka to check the topic, retrying", error=str(exc))
                await asyncio.sleep(1.0)
        while True:
            self.consumer = await start_kafka_client(
                lambda: AIOKafkaConsumer(
                    self.settings.demo_events_topic,
                    **self.settings.kafka_client_kwargs(),
                    group_id=CONSUMER_GROUP,
                    client_id="demo-notification",
                    # A fresh group must not skip the orders placed while it was joining.
                    auto_offset_reset="earliest",
                ),
                "order events consumer",
                log,
                settings=self.settings,
            )
            try:
                async for message in self.consumer:
                    try:
                        await self.handle(message)
                    except Exception:  # one bad message must not stop the service
                        log.exception(
                            "could not process an order event",
                            partition=message.partition,
                            offset=message.offset,
                        )
            except KafkaError:
                log.exception("order events consumer failed, reconnecting")
                consumer, self.consumer = self.consumer, None
                with contextlib.suppress(KafkaError):
                    await consumer.stop()
                await asyncio.sleep(1.0)

    async def handle(self, message: Any) -> None:
        headers = {key: value.decode("latin-1") for key, value in message.headers or ()}
        parent = propagate.extract(headers)
        with self.tracer.start_as_current_span(
            f"process {message.topic}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.operation.name": "process",
                "messaging.destination.name": message.topic,
                "messaging.destination.partition.id": str(message.partition),
                "messaging.kafka.offset": message.offset,
                "messaging.consumer.group.name": CONSUMER_GROUP,
            },
        ) as span:
            try:
                event = json.loads(message.value)
                order_id = str(event["order_id"])
                customer_id = str(event["customer_id"])
            except (ValueError, KeyError, TypeError) as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, "malformed event"))
                log.exception(
                    "skipping a malformed order event",
                    partition=message.partition,
                    offset=message.offset,
                )
                return
            span.set_attribute("shop.order.id", order_id)
            log.info("order event received", event_type=event.get("type"), order_id=order_id)
            await self.send_confirmation(order_id, customer_id)

    async def send_confirmation(self, order_id: str, customer_id: str) -> None:
        with self.tracer.start_as_current_span(
            "smtp send", kind=SpanKind.CLIENT, attributes={"shop.order.id": order_id}
        ):
            await asyncio.sleep(self._mailer.uniform(0.005, 0.02))
            recipient = f"{customer_id}@customers.example"
            log.info("order confirmation e-mailed", order_id=order_id, recipient=recipient)
        self.sent.append({"order_id": order_id, "recipient": recipient})
        del self.sent[:-_HISTORY]


def create_app(settings: DemoSettings, tracer_provider: TracerProvider) -> FastAPI:
    notifier = _Notifier(settings, tracer_provider)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(notifier.run(), name="order-events-consumer")
        try:
            yield
        finally:
            await cancel_and_wait(task)
            if notifier.consumer is not None:
                await notifier.consumer.stop()

    app = service_app("notification", tracer_provider, lifespan, ready=lambda _app: notifier.ready)

    @app.get("/notifications")
    async def notifications(order_id: str | None = None) -> list[dict[str, Any]]:
        return [n for n in notifier.sent if order_id is None or n["order_id"] == order_id]

    return app
