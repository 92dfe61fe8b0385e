"""The continuous double auction of the economy (the AI Economist's ``ContinuousDoubleAuction``).

Agents post *bids* (buy one unit of a resource for at most ``p`` coin) and *asks* (sell one unit
for at least ``p``), ``p`` an integer in ``0..max_bid_ask`` (10).  Posting costs
``order_labor`` (0.25) and puts the coin (bid) or the unit (ask) into escrow; an agent holds at
most ``max_num_orders`` (5) open orders per resource, bids and asks together.  Every step, after
the new orders, the book of each resource is matched:

1. take the best bid of a buyer still in play (highest price, then the oldest, then the lowest
   agent index, which is the AI Economist's stable-sort order for orders of the same step);
2. pair it with the best ask of *another* agent (lowest price, then oldest, then lowest index);
3. if the bid is below that ask, or no such ask exists, the buyer is out for this step;
   otherwise they trade one unit at the older order's price (the ask's when both are equally
   old), the buyer's surplus escrow comes back, and the scan starts again from the top,

until no buyer is left in play.  Then every open order ages by one step and orders older than
``order_duration`` (50) expire, their escrow returned.  ``price_history`` (each seller's sales
per price, decayed by 0.995 per step) feeds the observations.

The book is a fixed-size array, ``(resources, agents, max_num_orders)`` slots, so everything
vmaps; the matching loops once per trade (see :func:`match`).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

__all__ = ["Book", "MarketRules", "expire", "histograms", "match", "new_book", "post"]


@struct.dataclass
class MarketRules:
    """The auction's parameters (the papers' values by default)."""

    max_bid_ask: int = struct.field(pytree_node=False, default=10)
    """Highest price; prices are ``0..max_bid_ask``."""
    max_num_orders: int = struct.field(pytree_node=False, default=5)
    """Open orders per agent and resource, bids and asks together."""
    order_duration: int = struct.field(pytree_node=False, default=50)
    """An order expires when its age exceeds this many steps."""
    order_labor: float = struct.field(pytree_node=False, default=0.25)
    """Labour charged for posting an order."""
    history_decay: float = struct.field(pytree_node=False, default=0.995)
    """Per-step decay of ``price_history``."""


@struct.dataclass
class Book:
    """Open orders, ``(resources, agents, slots)`` each, and the sales history."""

    active: jax.Array
    """Slot holds an open order (bool)."""
    is_bid: jax.Array
    """The order is a bid (else an ask) (bool)."""
    price: jax.Array
    """Its price (int32)."""
    age: jax.Array
    """Steps since it was posted (int32; the AI Economist's ``*_lifetime``)."""
    price_history: jax.Array
    """``(resources, agents, max_bid_ask + 1)`` decayed count of each seller's sales per price."""


def new_book(n_resources: int, n_agents: int, rules: MarketRules) -> Book:
    """An empty book."""
    shape = (n_resources, n_agents, rules.max_num_orders)
    return Book(
        active=jnp.zeros(shape, bool),
        is_bid=jnp.zeros(shape, bool),
        price=jnp.zeros(shape, jnp.int32),
        age=jnp.zeros(shape, jnp.int32),
        price_history=jnp.zeros((n_resources, n_agents, rules.max_bid_ask + 1), jnp.float32),
    )


def histograms(book: Book, rules: MarketRules) -> tuple[jax.Array, jax.Array]:
    """Open bids and asks per ``(resource, agent, price)`` (float32 counts)."""
    one_hot = jax.nn.one_hot(book.price, rules.max_bid_ask + 1, dtype=jnp.float32)
    bids = (one_hot * (book.active & book.is_bid)[..., None]).sum(axis=2)
    asks = (one_hot * (book.active & ~book.is_bid)[..., None]).sum(axis=2)
    return bids, asks


def post(
    book: Book,
    inventory: jax.Array,
    escrow: jax.Array,
    labor: jax.Array,
    buy: jax.Array,
    sell: jax.Array,
    rules: MarketRules,
) -> tuple[Book, jax.Array, jax.Array, jax.Array]:
    """Post this step's orders.

    Args:
        book: the book.
        inventory: ``(agents, 1 + resources)`` goods in hand, coin in column 0.
        escrow: ``(agents, 1 + resources)`` goods held by open orders.
        labor: ``(agents,)``.
        buy: ``(resources, agents)`` int, the bid's price, ``-1`` for none.
        sell: ``(resources, agents)`` int, the ask's price, ``-1`` for none.
        rules: the auction's parameters.

    Returns:
        The book, inventory, escrow and labour after posting.  A bid needs the coin in the
        inventory and a free slot; an ask needs a unit in the inventory and a free slot.  The
        sales history decays here, once per step, as the AI Economist does before posting.
    """
    n_open = book.active.sum(axis=2)  # (R, N)
    free = n_open < rules.max_num_orders
    coin = inventory[:, 0]
    units = inventory[:, 1:].T  # (R, N)
    bid_ok = (buy >= 0) & free & (coin[None, :] >= buy)
    ask_ok = (sell >= 0) & free & (units > 0)
    placed = bid_ok | ask_ok
    slot = jnp.argmin(book.active, axis=2)  # first free slot
    at = jax.nn.one_hot(slot, rules.max_num_orders, dtype=bool) & placed[..., None]
    price = jnp.where(bid_ok, buy, sell)
    book = dataclasses.replace(
        book,
        price_history=book.price_history * rules.history_decay,
        active=book.active | at,
        is_bid=jnp.where(at, bid_ok[..., None], book.is_bid),
        price=jnp.where(at, price[..., None], book.price),
        age=jnp.where(at, 0, book.age),
    )
    coin_out = jnp.where(bid_ok, buy, 0).sum(axis=0).astype(inventory.dtype)  # (N,)
    units_out = ask_ok.T.astype(inventory.dtype)  # (N, R)
    moved = jnp.concatenate([coin_out[:, None], units_out], axis=1)
    labor = labor + rules.order_labor * placed.sum(axis=0)
    return book, inventory - moved, escrow + moved, labor


def match(
    book: Book, inventory: jax.Array, escrow: jax.Array, rules: MarketRules
) -> tuple[Book, jax.Array, jax.Array, jax.Array]:
    """Match every resource's book (see the module docstring).

    The AI Economist scans the sorted book and restarts after every trade or every buyer it
    drops.  A dropped buyer (best bid below the cheapest ask of the others) stays dropped --
    asks only leave the book, so the cheapest ask only rises, and a dropped buyer trades no
    more -- so dropping every such buyer at once before each trade gives the same trades.
    Each round thus drops buyers and makes one trade per resource, all resources at once, and
    the loop runs until no resource trades (one round more than the most trades).

    Returns:
        The book, inventory and escrow after trading, and ``(resources,)`` trade counts.
    """
    n_resources, n_agents, slots = book.active.shape
    agents = jnp.arange(n_agents)
    agent_of = jnp.broadcast_to(agents[:, None], (n_agents, slots))
    big = (rules.order_duration + 2) * n_agents
    bid_score = book.price * big + book.age * n_agents + (n_agents - 1 - agent_of)
    ask_score = book.price * big - book.age * n_agents + agent_of
    flat = lambda x: x.reshape(n_resources, n_agents * slots)  # noqa: E731
    price_f, age_f = flat(book.price), flat(book.age)
    others = agents[:, None] != agents[None, :]  # (buyer, seller)
    n_prices = rules.max_bid_ask + 1
    sentinel = jnp.iinfo(jnp.int32).max

    def body(carry: tuple) -> tuple:
        active, inventory, escrow, history, in_play, count, _ = carry
        bids = active & book.is_bid
        asks = active & ~book.is_bid
        best_bid = jnp.where(bids, book.price, -1).max(axis=2)  # (R, N)
        cheapest = jnp.where(asks, book.price, n_prices).min(axis=2)  # (R, seller)
        other_ask = jnp.where(others[None], cheapest[:, None, :], n_prices).min(axis=2)
        in_play = in_play & (best_bid >= other_ask)
        live = flat(bids & in_play[..., None])
        b = jnp.argmax(jnp.where(live, flat(bid_score), -1), axis=1)  # (R,)
        trade = jnp.take_along_axis(live, b[:, None], axis=1)[:, 0]
        buyer = b // slots
        sellable = flat(asks & (agent_of != buyer[:, None, None]))
        a = jnp.argmin(jnp.where(sellable, flat(ask_score), sentinel), axis=1)
        seller = a // slots
        at = lambda x, i: jnp.take_along_axis(x, i[:, None], axis=1)[:, 0]  # noqa: E731
        bid_price, ask_price = at(price_f, b), at(price_f, a)
        paid = jnp.where(at(age_f, b) <= at(age_f, a), ask_price, bid_price)
        slot_ids = jnp.arange(n_agents * slots)
        gone = trade[:, None] & ((slot_ids == b[:, None]) | (slot_ids == a[:, None]))
        active = active & ~gone.reshape(active.shape)
        t = trade.astype(inventory.dtype)
        to_buyer = (buyer[:, None] == agents) * t[:, None]  # (R, N)
        to_seller = (seller[:, None] == agents) * t[:, None]
        coin_in = (to_buyer * (bid_price - paid)[:, None] + to_seller * paid[:, None]).sum(0)
        coin_escrow = (to_buyer * bid_price[:, None]).sum(0)
        inventory = inventory.at[:, 0].add(coin_in).at[:, 1:].add(to_buyer.T)
        escrow = escrow.at[:, 0].add(-coin_escrow).at[:, 1:].add(-to_seller.T)
        history = history + to_seller[..., None] * jax.nn.one_hot(paid, n_prices)[:, None, :]
        return active, inventory, escrow, history, in_play, count + trade, trade.any()

    init = (
        book.active,
        inventory,
        escrow,
        book.price_history,
        jnp.ones((n_resources, n_agents), bool),
        jnp.zeros(n_resources, jnp.int32),
        jnp.bool_(True),
    )
    active, inventory, escrow, history, _, count, _ = jax.lax.while_loop(
        lambda c: c[-1], body, init
    )
    return dataclasses.replace(book, active=active, price_history=history), inventory, escrow, count


def expire(
    book: Book, inventory: jax.Array, escrow: jax.Array, rules: MarketRules
) -> tuple[Book, jax.Array, jax.Array]:
    """Age every open order by one step; return the escrow of those past ``order_duration``."""
    age = book.age + book.active
    gone = book.active & (age > rules.order_duration)
    coin_back = jnp.where(gone & book.is_bid, book.price, 0).sum(axis=(0, 2))  # (N,)
    units_back = (gone & ~book.is_bid).sum(axis=2).T  # (N, R)
    back = jnp.concatenate([coin_back[:, None], units_back], axis=1).astype(inventory.dtype)
    back = jnp.minimum(back, escrow)
    book = dataclasses.replace(book, active=book.active & ~gone, age=jnp.where(book.active, age, 0))
    return book, inventory + back, escrow - back
