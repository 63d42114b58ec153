"""One package per exchange: adapter, book rules, facts (and, later, simulator half).

The registry the engine reads is added by the exchange-packages restructure; this
package only holds the venues' own code.
"""
