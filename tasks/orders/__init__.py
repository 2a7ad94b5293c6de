"""From a published book to orders, and from fills back to holdings (issue 25).

The room sits above ``tasks.portfolio`` (it reads the book and the cost model; nothing in
``tasks.portfolio`` imports it):

============== ==========================================================================
module         owns
============== ==========================================================================
instruments    the instruments file: lot size, price currency, tradable flag, ADV
orders         an order set from target weights: shares rounded to lots, residual error
fix            FIX 4.4 (simplefix): NewOrderSingle, NewOrderList, ExecutionReport
fills          fills import (FIX 35=8 or CSV) and reconciliation against the orders
paper          the paper broker: next day's close + the cost model's spread and impact
shortfall      implementation shortfall per order and per rebalance against the estimate
============== ==========================================================================
"""
