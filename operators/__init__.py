"""Physical operators run inside task actors; ``registry`` maps an OperatorSpec kind to a class."""
