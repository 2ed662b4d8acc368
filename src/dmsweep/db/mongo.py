"""The MongoDB-protocol store through pymongo (a MongoDB server, Amazon DocumentDB, or the
test servers secantusd / nx-27017).

The URI's options go to pymongo as given (DocumentDB: `tls=true&tlsCAFile=global-bundle.pem
&retryWrites=false`); the login comes from `Credentials`, never from the URI. Every pymongo
failure becomes a one-line DatabaseError naming the redacted address. Metadata records live
in the companion collection `dmsweep_meta`, keyed `<collection>/<key>`, so they never appear
among the protein documents.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from dmsweep.core.dbaddress import Credentials, StoreAddress
from dmsweep.db.documents import Document
from dmsweep.db.store import UpsertCounts
from dmsweep.errors import DatabaseError, one_line

META_COLLECTION = "dmsweep_meta"
CHUNK = 1000
"""Ids per `update_many({"_id": {"$in": ...}})` (DocumentDB caps a request at 16 MB)."""
SPLIT_INDEX = [("split", 1), ("_id", 1)]


class MongoStore:
    """A `DocumentStore` on a MongoDB-protocol server, pinged on opening."""

    def __init__(
        self, address: StoreAddress, *, credentials: Credentials | None, timeout: float
    ) -> None:
        import pymongo

        self.address = address
        login: dict[str, Any] = {}
        if credentials is not None:
            login = {"username": credentials.username, "password": credentials.password}
        milliseconds = max(1, int(timeout * 1000))
        with self._errors("connect"):
            self._client: Any = pymongo.MongoClient(
                address.uri,
                serverSelectionTimeoutMS=milliseconds,
                connectTimeoutMS=milliseconds,
                **login,
            )
            self._db = self._client[address.database]
        with self._errors(f"reach the server within {timeout:g} s"):
            self._client.admin.command("ping")
        self._indexed: set[str] = set()

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """pymongo's errors as one line naming the redacted address (never the password)."""
        import pymongo.errors

        try:
            yield
        except pymongo.errors.ServerSelectionTimeoutError:
            raise DatabaseError(
                f"{self.address.display}: cannot {doing} (is the server running and reachable?)"
            ) from None
        except pymongo.errors.OperationFailure as err:
            raise DatabaseError(
                f"{self.address.display}: cannot {doing}: the server refused "
                f"(code {err.code}): {one_line(err)[:200]}"
            ) from None
        except (pymongo.errors.PyMongoError, ValueError, TypeError) as err:
            message = one_line(err)[:200]
            raise DatabaseError(f"{self.address.display}: cannot {doing}: {message}") from None

    def _collection(self, name: str) -> Any:
        return self._db[name]

    def upsert(self, collection: str, documents: Sequence[Document]) -> UpsertCounts:
        from pymongo import UpdateOne

        if not documents:
            return UpsertCounts()
        operations = [
            UpdateOne({"_id": doc["_id"]}, {"$set": _without_id(doc)}, upsert=True)
            for doc in documents
        ]
        with self._errors(f"write to collection {collection!r}"):
            self._ensure_index(collection)
            result = self._collection(collection).bulk_write(operations, ordered=False)
        inserted = result.upserted_count
        updated = result.modified_count
        return UpsertCounts(
            inserted=inserted, updated=updated, unchanged=len(operations) - inserted - updated
        )

    def _ensure_index(self, collection: str) -> None:
        if collection not in self._indexed:
            self._collection(collection).create_index(SPLIT_INDEX, name="split_id")
            self._indexed.add(collection)

    def count(self, collection: str, *, split: str | None = None) -> int:
        query = {} if split is None else {"split": split}
        with self._errors(f"count collection {collection!r}"):
            return int(self._collection(collection).count_documents(query))

    def page(
        self, collection: str, *, split: str | None, after: str | None, limit: int
    ) -> list[Document]:
        query: dict[str, Any] = {} if split is None else {"split": split}
        if after is not None:
            query["_id"] = {"$gt": after}
        with self._errors(f"read collection {collection!r}"):
            cursor = self._collection(collection).find(query).sort("_id", 1).limit(limit)
            return list(cursor.batch_size(limit))

    def find(self, collection: str, ids: Sequence[str]) -> list[Document]:
        wanted = list(dict.fromkeys(ids))
        found: list[Document] = []
        with self._errors(f"read collection {collection!r}"):
            for start in range(0, len(wanted), CHUNK):
                query = {"_id": {"$in": wanted[start : start + CHUNK]}}
                found.extend(self._collection(collection).find(query))
        return sorted(found, key=lambda doc: doc["_id"])

    def set_split(self, collection: str, ids: Sequence[str], split: str) -> int:
        matched = 0
        with self._errors(f"write splits into collection {collection!r}"):
            self._ensure_index(collection)
            for start in range(0, len(ids), CHUNK):
                chunk = list(ids[start : start + CHUNK])
                result = self._collection(collection).update_many(
                    {"_id": {"$in": chunk}}, {"$set": {"split": split}}
                )
                matched += result.matched_count
        return matched

    def put_meta(self, collection: str, key: str, value: Mapping[str, Any]) -> None:
        meta_id = f"{collection}/{key}"
        with self._errors(f"write metadata of collection {collection!r}"):
            self._collection(META_COLLECTION).replace_one(
                {"_id": meta_id}, {"_id": meta_id, "value": dict(value)}, upsert=True
            )

    def get_meta(self, collection: str, key: str) -> dict[str, Any] | None:
        with self._errors(f"read metadata of collection {collection!r}"):
            found = self._collection(META_COLLECTION).find_one({"_id": f"{collection}/{key}"})
        return None if found is None else dict(found["value"])

    def close(self) -> None:
        self._client.close()


def _without_id(document: Document) -> Document:
    return {key: value for key, value in document.items() if key != "_id"}
