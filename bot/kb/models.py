"""Schemas of the hand-written knowledge-base files (services, agencies, communities).

pydantic validates each entry's fields; cross-file references (agency named by the plan,
clause exists, committee categories exist …) are checked in :mod:`bot.kb.loader`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Identifier = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", min_length=2, max_length=64)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


ServiceCategory = Literal[
    "养老",
    "托育",
    "儿童关爱",
    "残疾人",
    "医疗卫生",
    "医保",
    "就业",
    "教育",
    "文体",
    "科普",
    "志愿服务",
    "社会工作",
    "政务服务",
    "社会救助",
    "自治议事",
    "物业",
]


class HowToApply(Strict):
    steps: list[str] = Field(min_length=1)
    materials: list[str] = Field(default_factory=list)


class Contact(Strict):
    """Contact details in the sample data are invented: ``example`` must say so."""

    phone: str | None = None
    hours: str | None = None
    example: bool = True


class Service(Strict):
    id: str = Identifier
    name: str = Field(min_length=2)
    aliases: list[str] = Field(default_factory=list)
    category: ServiceCategory
    populations: list[str] = Field(default_factory=list, description="e.g. 老年人, 儿童, 残疾人, 失业人员")
    eligible: str = Field(min_length=2)
    provides: str = Field(min_length=2)
    how_to_apply: HowToApply
    where: str = Field(min_length=2)
    agency: str = Field(min_length=2)
    clause: str = Field(pattern=r"^(plan-\d+-\d{2}|action-\d+|indicator-\d+)$")
    contact: Contact | None = None

    @field_validator("aliases")
    @classmethod
    def _aliases_unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("aliases must be unique")
        return v


class ServiceCatalogue(Strict):
    services: list[Service] = Field(min_length=1)


class Agency(Strict):
    name: str = Field(min_length=2, description="short name exactly as the plan writes it, e.g. 市医保局")
    full_name: str = Field(min_length=2)
    duties: str = ""


class AgencyDirectory(Strict):
    agencies: list[Agency] = Field(min_length=1)


CommitteeType = Literal["居民委员会", "村民委员会", "业主委员会", "居务监督委员会", "村务监督委员会", "物业议事协调会"]


class CategoryLimits(Strict):
    """Time limits of a consultation category, in working days (bot.closedloop.deadlines counts them)."""

    accept_days: int = Field(2, ge=1, le=30, description="working days to accept (受理)")
    complete_days: int = Field(15, ge=1, le=120, description="working days to complete (办结), counted from filing")

    @model_validator(mode="after")
    def _complete_after_accept(self) -> CategoryLimits:
        if self.complete_days < self.accept_days:
            raise ValueError("complete_days must not be shorter than accept_days")
        return self


class ConsultationCategory(Strict):
    id: str = Identifier
    name: str = Field(min_length=2)
    description: str = ""
    keywords: list[str] = Field(min_length=1)
    examples: list[str] = Field(default_factory=list, description="sample texts, used as embedding anchors")
    limits: CategoryLimits = Field(default_factory=CategoryLimits, description="acceptance and completion limits")


class Office(Strict):
    """Where residents reach a committee. Sample data must say ``example: true``: example numbers and addresses are
    never shown to residents as if they were real (the reply says whom to ask instead)."""

    phone: str | None = Field(None, pattern=r"^(0\d{2,3}-?\d{7,8}|1[3-9]\d{9}|\d{5,6})$")
    address: str | None = Field(None, min_length=4)
    hours: str | None = None
    example: bool = True


class Committee(Strict):
    id: str = Identifier
    name: str = Field(min_length=2)
    type: CommitteeType
    categories: list[str] = Field(min_length=1, description="consultation category ids this committee handles")
    compound: str | None = Field(None, description="residential compound (小区) of an owners' committee")
    fallback: bool = Field(False, description="receives what nothing else handles (the 居委会/村委会)")
    office: Office | None = Field(None, description="the committee's own phone, address and hours")


class Community(Strict):
    id: str = Identifier
    name: str = Field(min_length=2)
    kind: Literal["社区", "村"]
    township: str = Field(min_length=2, description="街道 or 乡镇")
    address: str = ""
    households: int | None = Field(None, ge=0)
    residents: int | None = Field(None, ge=0)
    compounds: list[str] = Field(default_factory=list)
    committees: list[Committee] = Field(min_length=1)


class CommunityDirectory(Strict):
    city: str
    categories: list[ConsultationCategory] = Field(min_length=1)
    communities: list[Community] = Field(min_length=1)
