"""The one exception type that the experiment scripts turn into a one-line message."""


class UserError(Exception):
  """Bad input from the user: the message says what is wrong and what to do.

  Scripts catch it and print only the message, so it must be one complete sentence.
  """
