"""The load-test harness (scenarios, driver, report). Not built yet: see the load-test issue."""
