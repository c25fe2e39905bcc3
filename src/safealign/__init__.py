"""safealign: safe and pluralistic alignment of language and vision-language models."""

__version__ = "0.1.0"
