# Shared fixtures live in one module per area, each owned by one part of the tree.
pytest_plugins = [
    "tests.fixtures_fakecloud",  # fakecloud server fixtures
    "tests.fixtures_sync",  # accounts wired to fakecloud, synced caches
    "tests.fixtures_ui",  # users with roles, browser
    "tests.fixtures_stack",  # real processes on PostgreSQL and Redis
]
