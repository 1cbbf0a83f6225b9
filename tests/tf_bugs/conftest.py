"""The `tf_bug` marker: tests that document a TensorFlow kernel bug by asserting it."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "tf_bug: asserts a TensorFlow bug tfnas works around; fails once TensorFlow fixes it")
