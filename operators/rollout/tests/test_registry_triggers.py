"""The registry daemons' triggers (pure asyncio, no API server)."""

import asyncio

from modelship_operator.registry_sync import Registries, Trigger


def test_triggers():
    async def main():
        regs = Registries()
        t = regs.trigger_for("ml", "a")
        regs.trigger_for("other", "b")
        assert await t.wait(0.01) == "poll"
        assert regs.fire("webhook", "ml", None) == 1
        assert await t.wait(1) == "webhook"
        assert regs.fire("webhook") == 2
        regs.drop("ml", "a")
        assert regs.fire("webhook") == 1

    asyncio.run(main())
    assert Trigger().reason == "poll"
