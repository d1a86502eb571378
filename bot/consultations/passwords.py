"""Committee passwords: which are refused (too short, common, guessable from the username), and the hasher.

zxcvbn (Dropbox's estimator, kept on PyPI) scores the guessing effort with the username as a hint;
its dictionaries are English, so a bundled list adds passwords common in China (pinyin phrases such
as ``woaini1314``, keyboard walks, lucky numbers) that leak rankings put at the top.
"""

from __future__ import annotations

from zxcvbn import zxcvbn

MIN_LENGTH, MAX_LENGTH = 8, 256
MIN_SCORE = 2  # zxcvbn: about 10^6 guesses or more; with the login throttle that is out of reach online

COMMON_IN_CHINA = frozenset(
    """
123456789 12345678 1234567890 0123456789 11111111 111111111 1111111111 00000000 000000000 0000000000
88888888 66666666 99999999 12341234 12344321 11223344 12121212 123123123 147258369 987654321
87654321 789456123 123654789 31415926 110110110 5201314 52013145 5201314520 1314520520 1314521
woaini1314 woaini520 woaini521 aini1314 woaini123 woaini woainima iloveyou1314 wodemima
a123456789 a12345678 a1234567 123456abc 123456aa abc123456 abcd1234 abc12345 aa123456 qq123456
qq123456789 1qaz2wsx 1q2w3e4r 1q2w3e4r5t qazwsxedc qwertyuiop qwer1234 asdfghjkl asdasdasd zxcvbnm123
password password1 password123 passw0rd admin123 admin888 admin1234 root1234 dearbook xiazhili
linli123 linli1234 linli2026 linli888 zhangsan lisi1234 wangwu123 88889999 168168168 520520520
""".split()
)


def password_problem(password: object, username: str = "") -> str | None:
    """Why ``password`` is refused (a Chinese sentence for the CLI and the admin page), or None if it is fine."""
    if not isinstance(password, str) or len(password) < MIN_LENGTH or len(password) > MAX_LENGTH:
        return f"密码至少 {MIN_LENGTH} 位（最多 {MAX_LENGTH} 位）。"
    plain = password.strip().lower()
    name = (username or "").strip().lower()
    if plain in COMMON_IN_CHINA:
        return "这个密码太常见，很容易被猜中，请换一个（例如几个不相关的词，加上数字和符号）。"
    if name and (
        plain == name
        or plain.replace(name, "") == ""
        or (len(name) >= 3 and plain.startswith(name) and plain[len(name) :].isdigit())
    ):
        return "密码不能由用户名构成（例如用户名加数字），请换一个。"
    if len(set(plain)) <= 2:
        return "密码不能只由一两个字符重复组成，请换一个。"
    if zxcvbn(password[:100], user_inputs=[name] if name else [])["score"] < MIN_SCORE:
        return "这个密码太容易被猜中（常见词、键盘顺序、日期或用户名的变体），请换一个更长、更不规则的密码。"
    return None


class Argon2Hasher:
    """The password hasher the accounts store is given (argon2id); tests pass cheaper parameters.

    ``verify`` answers True/False instead of raising, so the store needs no argon2 imports."""

    def __init__(self, **parameters):
        from argon2 import PasswordHasher

        self._h = PasswordHasher(**parameters)

    def hash(self, password: str) -> str:
        return self._h.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        from argon2.exceptions import InvalidHashError, VerificationError

        try:
            return self._h.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._h.check_needs_rehash(password_hash)
