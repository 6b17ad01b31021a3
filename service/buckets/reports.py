"""Reports of finished works: the `Reports` methods of `BucketsStore`.

`PUT /work` (`BucketsStore.update`) applies a batch all or nothing; `report_many` (`POST
/work/reports`) takes the reports of a worker holding several works, each with its own
lease, and answers each on its own, so one lost lease does not fail the others. Both
judge every document with the one rule (`service.buckets.lease.decide`) and replace it
conditionally on the state it was judged from. `report_many` does it in two database
round trips whatever the number of reports (one read of every id, one unordered bulk
write); when some work changed in between, it judges every written one again as `PUT
/work` does, since a bulk write counts its matches without saying which: one whose
write went through reads as the same and passes. The reports carry lease tokens, so a
second judgement never overwrites another run's work: a work whose lease was lost in
between is refused (409) and left as it is, even one whose own write went through just
before (it is then answered 409 although recorded).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from pymongo import ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection

from schemas.work import Work
from service.auth.principal import Principal
from service.buckets import lease
from service.buckets.candidates import Candidates
from service.buckets.lease import Late
from service.db import Document
from service.errors import Conflict, Forbidden, NotFound, SluiceError, ValidationFailed
from service.settings import Settings
from service.validation import duplicates, validate_works

#: What one report of `report_many` came to: None when recorded, else why it was refused
#: (the error `PUT /work` would have answered for it alone).
Outcome = SluiceError | None
Verdict = TypeVar("Verdict", Document | None, None)
#: The refusals of one report that leave the batch's others to go on.
REFUSALS = (Conflict, NotFound, Forbidden)


def _with_token(verdict: Verdict | Late) -> Verdict:
    # Every batched report carries its lease token, and `lease.judge` finds a report
    # late only without one.
    assert not isinstance(verdict, Late), "a report with a lease token is never late"
    return verdict


class Reports:
    """Checking and applying reports; a base of `BucketsStore`."""

    collection: AsyncCollection[Document]
    settings: Settings
    candidates: Candidates

    def reported_documents(self, raw: Any, caller: Principal | None) -> list[Document]:
        """The validated documents of a report batch: 422 (or 413 past SLUICE_MAX_BATCH)
        if one is invalid, has no id or repeats another's; 403 when `caller` may not
        touch the pipeline of one. Nothing is written."""
        documents = validate_works(raw, Work, self.settings.max_batch)
        if caller is not None:
            caller.check_pipelines(d["pipeline"] for d in documents)
        for index, document in enumerate(documents):
            if document["id"] is None:
                raise ValidationFailed(f"document {index} has no id; an update needs one")
        repeated = duplicates([d["id"] for d in documents])
        if repeated:
            raise ValidationFailed("ids repeated within the batch", {"ids": repeated})
        # A work edited back to `queued` may rank before cached claim candidates.
        self.candidates.queued(d for d in documents if d["status"] == "queued")
        return documents

    async def report_many(
        self, works: Sequence[Any], tokens: Sequence[str], caller: Principal | None = None
    ) -> list[Outcome]:
        """Apply each of `works` (full documents, as `PUT /work` takes them) reported
        with the lease token at the same index, as `PUT /work` with that token would;
        the outcomes in input order. Invalid input (422, 413) and a pipeline `caller`
        may not touch (403, whether sent or stored) change nothing at all."""
        documents = self.reported_documents(list(works), caller)
        ids = [d["id"] for d in documents]
        stored = {d["id"]: d async for d in self.collection.find({"id": {"$in": ids}})}
        if caller is not None:
            caller.check_pipelines(d.get("pipeline") for d in stored.values())
        strict = self.settings.require_lease
        outcomes: list[Outcome] = [None] * len(documents)
        writes: list[tuple[int, ReplaceOne[Document]]] = []
        for index, (document, token) in enumerate(zip(documents, tokens, strict=True)):
            found = stored.get(document["id"])
            try:
                if found is None:
                    raise lease.unknown(document["id"])
                verdict = _with_token(lease.decide(found, document, token, caller, strict))
            except REFUSALS as exc:
                outcomes[index] = exc
                continue
            if verdict is not None:
                writes.append((index, ReplaceOne(lease.version(found), verdict)))
        if writes:
            result = await self.collection.bulk_write([op for _, op in writes], ordered=False)
            if result.matched_count < len(writes):
                # Some work changed between the read and its write: judge each again as
                # `PUT /work` does (one already replaced reads as the same and passes).
                again = [index for index, _ in writes]
                await self._report_again(again, documents, tokens, caller, outcomes)
        return outcomes

    async def _report_again(
        self,
        indexes: Iterable[int],
        documents: list[Document],
        tokens: Sequence[str],
        caller: Principal | None,
        outcomes: list[Outcome],
    ) -> None:
        strict = self.settings.require_lease
        for index in indexes:
            try:
                outcomes[index] = _with_token(
                    await lease.report(
                        self.collection, documents[index], tokens[index], caller, strict
                    )
                )
            except REFUSALS as exc:
                outcomes[index] = exc
