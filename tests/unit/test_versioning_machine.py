"""Histories of agents, their versions and their release labels, driven through the use cases by two organizations and
three roles, and checked after every step against a model of what each organization should see."""

import asyncio
import copy
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar
from uuid import UUID

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, multiple, rule

from application.agents import (
    CreateAgent,
    GetAgent,
    ListAgents,
    SearchAgents,
    SetStatus,
    UpdateAgent,
    activate_agent,
    create_agent,
    deactivate_agent,
    delete_agent,
    get_agent,
    list_agents,
    search_agents,
    update_agent,
)
from application.blueprints import (
    ActivateVersion,
    AddVersion,
    CompileVersion,
    GetCompilationStats,
    GetLivePrompt,
    GetVersion,
    ListVersions,
    activate_version,
    add_version,
    compile_version,
    get_compilation_stats,
    get_live_prompt,
    get_version,
    list_versions,
)
from application.deps import Deps
from application.labels import (
    DeleteLabel,
    LabelHistory,
    ListLabels,
    MoveLabel,
    ProtectLabel,
    delete_label,
    label_history,
    list_labels,
    move_label_to,
    protect_label,
)
from domain.agents import AgentStatus
from domain.audit import Action
from domain.blueprints import BlueprintVersion, CompilationStatus, compilation_stats
from domain.errors import (
    AgentDeleted,
    AgentNotFound,
    DomainError,
    InvalidBlueprint,
    LabelNotFound,
    NoLivePrompt,
    ProductionAlwaysProtected,
    ProductionUndeletable,
    RoleTooLow,
    VersionNotCompiled,
)
from domain.labels import PRODUCTION, LabelMove
from domain.roles import Principal, Role
from entrypoints.bootstrap import memory_deps
from tests.contract.test_audit import agents_trail
from tests.doubles import FixedClock, SequentialIds
from tests.samples import Team, missing_identity_name, shop_buddy, team, wholes, wrong_typed

T = TypeVar("T")

ORGS: Final = ("acme", "globex")
MANAGERS: Final = (Role.OWNER, Role.ADMIN)
NAMES: Final = st.text(alphabet="abAB xy", min_size=1, max_size=8).filter(str.strip)
DOC_KINDS: Final = ("compiles", "fails to compile", "wrongly typed")
LABELS: Final = (PRODUCTION, "staging", "canary")


@dataclass(frozen=True)
class AgentRef:
    org: str
    id: UUID


@dataclass(frozen=True)
class VersionRef:
    agent: AgentRef
    id: UUID


@dataclass(frozen=True)
class LabelRef:
    agent: AgentRef
    name: str


@dataclass
class ModelVersion:
    id: UUID
    document: dict[str, Any]
    compiles: bool
    conversation_id: str | None
    status: CompilationStatus = CompilationStatus.DRAFT
    compiled: BlueprintVersion | None = None  # the stored result of the first successful compile


@dataclass
class ModelAgent:
    ref: AgentRef
    name: str
    status: AgentStatus = AgentStatus.ACTIVE
    versions: list[ModelVersion] = field(default_factory=list)
    active: UUID | None = None  # production
    labels: dict[str, UUID] = field(default_factory=dict)  # the others
    protected: set[str] = field(default_factory=set)  # of the others
    moves: dict[str, list[UUID | None]] = field(default_factory=dict)  # every label's history, oldest first

    def version(self, version_id: UUID) -> ModelVersion:
        return next(v for v in self.versions if v.id == version_id)

    def pointer(self, name: str) -> UUID | None:
        return self.active if name == PRODUCTION else self.labels.get(name)

    def is_protected(self, name: str) -> bool:
        return name == PRODUCTION or name in self.protected


def other(org: str) -> str:
    return ORGS[1 - ORGS.index(org)]


class Versioning(RuleBasedStateMachine):
    agents = Bundle("agents")
    versions = Bundle("versions")
    labelled = Bundle("labelled")  # labels moved once (deleted since, maybe)

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.Runner()
        self.clock = FixedClock()
        self.deps = self.make_deps()
        self.teams: dict[str, Team] = {org: self.run(team(self.deps, org)) for org in ORGS}
        self.model: dict[UUID, ModelAgent] = {}
        self.audit: dict[str, Counter[Action]] = {org: Counter() for org in ORGS}

    def make_deps(self) -> Deps:
        """The storage under test; a PostgreSQL subclass returns deps on an emptied database here (it may use
        self.loop to open them) and closes them in teardown."""
        return memory_deps(clock=self.clock, ids=SequentialIds())

    def teardown(self) -> None:
        self.loop.close()

    # -- helpers -------------------------------------------------------------------------------------------------

    def run(self, step: Coroutine[Any, Any, T]) -> T:
        return self.loop.run(step)

    def refused(self, error: type[DomainError], step: Coroutine[Any, Any, object]) -> DomainError:
        try:
            self.run(step)
        except error as raised:
            return raised
        raise AssertionError(f"expected {error.__name__}")

    def who(self, org: str, role: Role) -> Principal:
        members = self.teams[org]
        return {Role.OWNER: members.owner, Role.ADMIN: members.admin, Role.MEMBER: members.member}[role]

    def agent(self, ref: AgentRef) -> ModelAgent:
        return self.model[ref.id]

    def audited(self, org: str, action: Action) -> None:
        self.audit[org][action] += 1

    # -- rules -----------------------------------------------------------------------------------------------------

    @initialize(target=agents)
    def an_agent_in_each_organization(self) -> object:
        return multiple(*(self.create_an_agent(org, Role.MEMBER, f"first of {org}") for org in ORGS))

    @initialize(target=versions)
    def a_draft_in_each_organization(self) -> object:
        refs = [self.create_an_agent(org, Role.MEMBER, f"drafted by {org}") for org in ORGS]
        return multiple(*(self.add_a_version(ref, Role.MEMBER, "compiles", None) for ref in refs))

    @initialize(target=labelled)
    def a_label_in_each_organization(self) -> object:
        """Labels need a compiled version first, which random steps make rarely: start with one each."""
        made = []
        for org in ORGS:
            agent = self.create_an_agent(org, Role.MEMBER, f"labelled by {org}")
            assert isinstance(agent, AgentRef)
            version = self.add_a_version(agent, Role.MEMBER, "compiles", None)
            assert isinstance(version, VersionRef)
            self.compile_a_version(version, Role.ADMIN, activate=False, label="staging", later=False)
            made.append(LabelRef(agent=agent, name="staging"))
        return multiple(*made)

    @rule(target=agents, org=st.sampled_from(ORGS), role=st.sampled_from(Role), name=NAMES)
    def create_an_agent(self, org: str, role: Role, name: str) -> AgentRef:
        made = self.run(create_agent(self.deps, self.who(org, role), CreateAgent(name=name)))
        assert (made.name, made.status, made.current_blueprint_id) == (name.strip(), AgentStatus.ACTIVE, None)
        ref = AgentRef(org=org, id=made.id)
        self.model[made.id] = ModelAgent(ref=ref, name=made.name)
        self.audited(org, Action.AGENT_CREATE)
        return ref

    @rule(
        target=versions,
        ref=agents,
        role=st.sampled_from(Role),
        kind=st.sampled_from(DOC_KINDS),
        conversation_id=st.none() | st.sampled_from(["chat-1", "chat-2"]),
    )
    def add_a_version(self, ref: AgentRef, role: Role, kind: str, conversation_id: str | None) -> object:
        agent = self.agent(ref)
        number = len(agent.versions) + 1
        doc = {"compiles": shop_buddy(f"v{number}"), "fails to compile": missing_identity_name()}.get(
            kind, wrong_typed()
        )
        doc["x_marker"] = {"agent": str(ref.id), "version": number}  # unknown keys are kept verbatim
        sent = copy.deepcopy(doc)
        step = add_version(
            self.deps,
            self.who(ref.org, role),
            AddVersion(agent_id=ref.id, agent_blueprint=sent, conversation_id=conversation_id),
        )
        if agent.status is AgentStatus.DELETE:
            self.refused(AgentDeleted, step)
            return multiple()
        if kind == "wrongly typed":
            self.refused(InvalidBlueprint, step)
            return multiple()
        made = self.run(step)
        assert (made.version, made.compilation_status, made.agent_blueprint) == (number, CompilationStatus.DRAFT, doc)
        sent.clear()  # what the caller does with its dict afterwards is no concern of the stored version
        agent.versions.append(
            ModelVersion(id=made.id, document=doc, compiles=kind == "compiles", conversation_id=conversation_id)
        )
        self.audited(ref.org, Action.BLUEPRINT_CREATE)
        return VersionRef(agent=ref, id=made.id)

    @rule(
        ref=versions,
        role=st.sampled_from(MANAGERS),
        activate=st.booleans(),
        label=st.none() | st.sampled_from(LABELS[1:]),
        later=st.booleans(),
    )
    def compile_a_version(self, ref: VersionRef, role: Role, activate: bool, label: str | None, later: bool) -> None:
        if later:
            self.clock.advance()
        agent = self.agent(ref.agent)
        version = agent.version(ref.id)
        label = None if activate else label  # activate=true is label=production: one label per compile
        cmd = CompileVersion(agent_id=ref.agent.id, version_id=ref.id, activate=activate, label=label)
        step = compile_version(self.deps, self.who(ref.agent.org, role), cmd)
        if agent.status is AgentStatus.DELETE:
            self.refused(AgentDeleted, step)
            return
        if not version.compiles:
            raised = self.refused(InvalidBlueprint, step)
            assert isinstance(raised, InvalidBlueprint)
            assert [v.field for v in raised.violations] == ["identity.name"]
            version.status = CompilationStatus.FAILED
            self.audited(ref.agent.org, Action.BLUEPRINT_COMPILE_FAILED)
            return
        result = self.run(step)
        assert result.blueprint.compilation_status is CompilationStatus.COMPILED
        if version.compiled is None:
            version.status, version.compiled = CompilationStatus.COMPILED, result.blueprint
            self.audited(ref.agent.org, Action.BLUEPRINT_COMPILE)
        else:
            assert result.blueprint == version.compiled  # the stored result, whatever the clock says now
        if activate:
            self._activated(agent, version)
        if label is not None:
            self._moved(agent, label, version.id)
        assert result.agent.current_blueprint_id == agent.active

    @rule(ref=versions, role=st.sampled_from(MANAGERS))
    def activate_a_version(self, ref: VersionRef, role: Role) -> None:
        agent = self.agent(ref.agent)
        version = agent.version(ref.id)
        step = activate_version(
            self.deps, self.who(ref.agent.org, role), ActivateVersion(agent_id=ref.agent.id, version_id=ref.id)
        )
        if agent.status is AgentStatus.DELETE:
            self.refused(AgentDeleted, step)
        elif version.status is not CompilationStatus.COMPILED:
            self.refused(VersionNotCompiled, step)
        else:
            assert self.run(step).current_blueprint_id == ref.id
            self._activated(agent, version)

    @rule(ref=agents, role=st.sampled_from(MANAGERS))
    def roll_back(self, ref: AgentRef, role: Role) -> None:
        agent = self.agent(ref)
        if agent.status is AgentStatus.DELETE or agent.active is None:
            return
        active_index = agent.versions.index(agent.version(agent.active))
        older = [v for v in agent.versions[:active_index] if v.status is CompilationStatus.COMPILED]
        if not older:
            return
        target = older[-1]  # the compiled version before the active one
        self.run(
            activate_version(self.deps, self.who(ref.org, role), ActivateVersion(agent_id=ref.id, version_id=target.id))
        )
        self._activated(agent, target)

    def _activated(self, agent: ModelAgent, version: ModelVersion) -> None:
        self._moved(agent, PRODUCTION, version.id)

    def _moved(self, agent: ModelAgent, name: str, to: UUID | None) -> None:
        """A label moved (or, to None, was deleted): recorded and audited only when it changed."""
        if agent.pointer(name) == to:
            return
        if name == PRODUCTION:
            agent.active = to
        elif to is None:
            del agent.labels[name]
            agent.protected.discard(name)
        else:
            agent.labels[name] = to
        agent.moves.setdefault(name, []).append(to)
        self.audited(agent.ref.org, Action.LABEL_MOVE if to else Action.LABEL_DELETE)

    @rule(target=labelled, ref=versions, name=st.sampled_from(LABELS), role=st.sampled_from(Role))
    def move_a_label(self, ref: VersionRef, name: str, role: Role) -> object:
        """As PUT …/labels/{name}: production too, by any role."""
        agent = self.agent(ref.agent)
        version = agent.version(ref.id)
        step = move_label_to(
            self.deps, self.who(ref.agent.org, role), MoveLabel(agent_id=ref.agent.id, name=name, blueprint_id=ref.id)
        )
        if agent.is_protected(name) and role is Role.MEMBER:
            self.refused(RoleTooLow, step)
        elif agent.status is AgentStatus.DELETE:
            self.refused(AgentDeleted, step)
        elif version.status is not CompilationStatus.COMPILED:
            self.refused(VersionNotCompiled, step)
        else:
            moved = self.run(step)
            assert (moved.name, moved.blueprint_id, moved.protected) == (name, ref.id, agent.is_protected(name))
            self._moved(agent, name, ref.id)
            return LabelRef(agent=ref.agent, name=name)
        return multiple()

    @rule(label=labelled, role=st.sampled_from(Role), pick=st.integers(min_value=0, max_value=20))
    def move_a_label_again(self, label: LabelRef, role: Role, pick: int) -> None:
        """A label that exists (or did), perhaps protected since, moved to any version of its agent."""
        versions = self.agent(label.agent).versions
        self.move_a_label(VersionRef(agent=label.agent, id=versions[pick % len(versions)].id), label.name, role)

    @rule(label=labelled, role=st.sampled_from(Role))
    def delete_a_label(self, label: LabelRef, role: Role) -> None:
        ref, name = label.agent, label.name
        agent = self.agent(ref)
        step = delete_label(self.deps, self.who(ref.org, role), DeleteLabel(agent_id=ref.id, name=name))
        if agent.status is AgentStatus.DELETE:
            self.refused(AgentDeleted, step)
        elif name == PRODUCTION:
            self.refused(ProductionUndeletable, step)
        elif agent.pointer(name) is None:
            self.refused(LabelNotFound, step)
        elif agent.is_protected(name) and role is Role.MEMBER:
            self.refused(RoleTooLow, step)
        else:
            self.run(step)
            self._moved(agent, name, None)

    @rule(label=labelled, role=st.sampled_from(Role), protected=st.booleans())
    def protect_a_label(self, label: LabelRef, role: Role, protected: bool) -> None:
        ref, name = label.agent, label.name
        agent = self.agent(ref)
        cmd = ProtectLabel(agent_id=ref.id, name=name, protected=protected)
        step = protect_label(self.deps, self.who(ref.org, role), cmd)
        if role is Role.MEMBER:
            self.refused(RoleTooLow, step)
        elif agent.pointer(name) is None:
            self.refused(LabelNotFound, step)
        elif agent.status is AgentStatus.DELETE:
            self.refused(AgentDeleted, step)
        elif name == PRODUCTION and not protected:
            self.refused(ProductionAlwaysProtected, step)
        else:
            assert self.run(step).protected is protected
            if name != PRODUCTION and (name in agent.protected) is not protected:
                (agent.protected.add if protected else agent.protected.discard)(name)
                self.audited(ref.org, Action.LABEL_PROTECT)

    @rule(ref=agents, role=st.sampled_from(MANAGERS), status=st.sampled_from(AgentStatus))
    def set_the_status(self, ref: AgentRef, role: Role, status: AgentStatus) -> None:
        agent = self.agent(ref)
        use_case = {AgentStatus.ACTIVE: activate_agent, AgentStatus.DEACTIVE: deactivate_agent}.get(
            status, delete_agent
        )
        step = use_case(self.deps, self.who(ref.org, role), SetStatus(agent_id=ref.id))
        if agent.status is status:
            assert self.run(step).status is status
        elif agent.status is AgentStatus.DELETE:
            self.refused(AgentDeleted, step)
        else:
            assert self.run(step).status is status
            agent.status = status
            self.audited(
                ref.org,
                {AgentStatus.ACTIVE: Action.AGENT_ACTIVATE, AgentStatus.DEACTIVE: Action.AGENT_DEACTIVATE}.get(
                    status, Action.AGENT_DELETE
                ),
            )

    @rule(ref=agents, role=st.sampled_from(MANAGERS), name=NAMES)
    def rename(self, ref: AgentRef, role: Role, name: str) -> None:
        agent = self.agent(ref)
        step = update_agent(self.deps, self.who(ref.org, role), UpdateAgent(agent_id=ref.id, name=name))
        if agent.status is AgentStatus.DELETE:
            self.refused(AgentDeleted, step)
            return
        assert self.run(step).name == name.strip()
        if agent.name != name.strip():
            agent.name = name.strip()
            self.audited(ref.org, Action.AGENT_UPDATE)

    @rule(ref=versions, change=st.sampled_from(["compile", "activate", "update", "deactivate", "delete"]))
    def a_member_tries_to_manage(self, ref: VersionRef, change: str) -> None:
        self.refused(RoleTooLow, self._change(ref, self.who(ref.agent.org, Role.MEMBER), change))

    @rule(
        ref=versions,
        role=st.sampled_from(Role),
        change=st.sampled_from(
            ["compile", "activate", "update", "deactivate", "delete", "add", "read", "prompt", "label", "protect",
             "unlabel", "label history", "labelled prompt"]
        ),
    )  # fmt: skip
    def the_other_organization_tries(self, ref: VersionRef, role: Role, change: str) -> None:
        managing = change in {"compile", "activate", "update", "deactivate", "delete", "protect"}
        expected = RoleTooLow if managing and role is Role.MEMBER else AgentNotFound
        self.refused(expected, self._change(ref, self.who(other(ref.agent.org), role), change))

    def _change(self, ref: VersionRef, who: Principal, change: str) -> Coroutine[Any, Any, object]:
        agent_id = ref.agent.id
        steps: dict[str, Callable[[], Coroutine[Any, Any, object]]] = {
            "compile": lambda: compile_version(
                self.deps, who, CompileVersion(agent_id=agent_id, version_id=ref.id, activate=True)
            ),
            "activate": lambda: activate_version(self.deps, who, ActivateVersion(agent_id=agent_id, version_id=ref.id)),
            "update": lambda: update_agent(self.deps, who, UpdateAgent(agent_id=agent_id, name="taken over")),
            "deactivate": lambda: deactivate_agent(self.deps, who, SetStatus(agent_id=agent_id)),
            "delete": lambda: delete_agent(self.deps, who, SetStatus(agent_id=agent_id)),
            "add": lambda: add_version(self.deps, who, AddVersion(agent_id=agent_id, agent_blueprint=shop_buddy())),
            "read": lambda: get_version(self.deps, who, GetVersion(agent_id=agent_id, version_id=ref.id)),
            "prompt": lambda: get_live_prompt(self.deps, who, GetLivePrompt(agent_id=agent_id)),
            "label": lambda: move_label_to(
                self.deps, who, MoveLabel(agent_id=agent_id, name="staging", blueprint_id=ref.id)
            ),
            "protect": lambda: protect_label(
                self.deps, who, ProtectLabel(agent_id=agent_id, name="staging", protected=True)
            ),
            "unlabel": lambda: delete_label(self.deps, who, DeleteLabel(agent_id=agent_id, name="staging")),
            "label history": lambda: label_history(self.deps, who, LabelHistory(agent_id=agent_id, name=PRODUCTION)),
            "labelled prompt": lambda: get_live_prompt(
                self.deps, who, GetLivePrompt(agent_id=agent_id, label="staging")
            ),
        }
        return steps[change]()

    # -- invariants ------------------------------------------------------------------------------------------------

    @invariant()
    def histories_are_complete_contiguous_and_unchanged(self) -> None:
        for agent in self.model.values():
            who = self.who(agent.ref.org, Role.MEMBER)
            history: list[BlueprintVersion] = []
            cursor: str | None = None
            while True:  # pages of 2, so the cursor is exercised on every history longer than that
                page = self.run(
                    list_versions(self.deps, who, ListVersions(agent_id=agent.ref.id, limit=2, cursor=cursor,
                                                               documents=True))
                )  # fmt: skip
                history += wholes(page.items)
                if (cursor := page.next_cursor) is None:
                    break
            history.reverse()
            assert [v.version for v in history] == list(range(1, len(agent.versions) + 1))
            assert [(v.id, v.agent_id, v.agent_blueprint) for v in history] == [
                (v.id, agent.ref.id, v.document) for v in agent.versions
            ]
            assert [(v.compilation_status, v.conversation_id) for v in history] == [
                (v.status, v.conversation_id) for v in agent.versions
            ]
            in_chat = self.run(
                list_versions(self.deps, who, ListVersions(agent_id=agent.ref.id, conversation_id="chat-1", limit=100))
            )
            assert [v.id for v in reversed(in_chat.items)] == [
                v.id for v in agent.versions if v.conversation_id == "chat-1"
            ]
            for stored, expected in zip(history, agent.versions, strict=True):
                if expected.compiled is not None:
                    assert stored == expected.compiled

    @invariant()
    def the_active_version_is_a_compiled_version_of_the_agent(self) -> None:
        for agent in self.model.values():
            who = self.who(agent.ref.org, Role.MEMBER)
            detail = self.run(get_agent(self.deps, who, GetAgent(agent_id=agent.ref.id)))
            assert (detail.agent.name, detail.agent.status) == (agent.name, agent.status)
            assert detail.agent.current_blueprint_id == agent.active
            if detail.blueprint is not None:
                assert detail.blueprint.id == agent.active
                assert detail.blueprint.agent_id == agent.ref.id
                assert detail.blueprint.compilation_status is CompilationStatus.COMPILED
            else:
                assert agent.active is None
            assert (detail.latest_blueprint.id if detail.latest_blueprint else None) == (
                agent.versions[-1].id if agent.versions else None
            )

    @invariant()
    def only_an_active_agent_with_an_active_version_serves_a_prompt(self) -> None:
        for agent in self.model.values():
            step = get_live_prompt(
                self.deps, self.who(agent.ref.org, Role.MEMBER), GetLivePrompt(agent_id=agent.ref.id)
            )
            if agent.status is AgentStatus.ACTIVE and agent.active is not None:
                compiled = agent.version(agent.active).compiled
                assert compiled is not None
                assert self.run(step).compiled_system_prompt == compiled.compiled_system_prompt
            else:
                self.refused(NoLivePrompt, step)

    @invariant()
    def labels_name_compiled_versions_of_their_agent_and_their_histories_replay_to_them(self) -> None:
        for agent in self.model.values():
            who = self.who(agent.ref.org, Role.MEMBER)
            listed = self.run(list_labels(self.deps, who, ListLabels(agent_id=agent.ref.id)))
            compiled = {
                v.id: n for n, v in enumerate(agent.versions, start=1) if v.status is CompilationStatus.COMPILED
            }
            newest = max(compiled, key=compiled.__getitem__, default=None)
            expected = [(PRODUCTION, agent.active, True)] if agent.active else []
            expected += [("latest", newest, True)] if newest else []
            expected += [(name, agent.labels[name], name in agent.protected) for name in sorted(agent.labels)]
            assert [(x.name, x.blueprint_id, x.protected) for x in listed] == expected
            for label in listed:
                assert compiled.get(label.blueprint_id) == label.version  # a compiled version of this agent
            for name, moves in agent.moves.items():
                entries = self._history(who, agent, name)
                assert [e.seq for e in entries] == list(range(1, len(moves) + 1))
                assert [e.blueprint_id for e in entries] == moves
                replayed: UUID | None = None
                for entry in entries:
                    assert entry.previous_blueprint_id == replayed
                    replayed = entry.blueprint_id
                assert replayed == agent.pointer(name)
            staging = agent.labels.get("staging")
            step = get_live_prompt(self.deps, who, GetLivePrompt(agent_id=agent.ref.id, label="staging"))
            if agent.status is AgentStatus.ACTIVE and staging is not None:
                assert self.run(step).blueprint_id == staging
            else:
                self.refused(NoLivePrompt, step)

    def _history(self, who: Principal, agent: ModelAgent, name: str) -> list[LabelMove]:
        """Oldest first, read in pages of 3 (newest first)."""
        entries: list[LabelMove] = []
        cursor: str | None = None
        while True:
            page = self.run(
                label_history(self.deps, who, LabelHistory(agent_id=agent.ref.id, name=name, limit=3, cursor=cursor))
            )
            entries += page.items
            if (cursor := page.next_cursor) is None:
                return entries[::-1]

    @invariant()
    def each_organization_sees_exactly_its_own_agents_and_counts(self) -> None:
        for org in ORGS:
            who = self.who(org, Role.MEMBER)
            mine = [a for a in self.model.values() if a.ref.org == org]
            live = [a.ref.id for a in mine if a.status is not AgentStatus.DELETE]
            deleted = [a.ref.id for a in mine if a.status is AgentStatus.DELETE]
            listed = self.run(list_agents(self.deps, who, ListAgents(limit=100))).items
            listed_deleted = self.run(
                list_agents(self.deps, who, ListAgents(status=AgentStatus.DELETE, limit=100))
            ).items
            assert sorted(a.id for a in listed) == sorted(live)
            assert sorted(a.id for a in listed_deleted) == sorted(deleted)
            found = self.run(search_agents(self.deps, who, SearchAgents(query="A", limit=100)))
            assert sorted(a.id for a in found) == sorted(
                a.ref.id for a in mine if a.status is not AgentStatus.DELETE and "a" in a.name.lower()
            )
            counted = Counter(v.status for a in mine if a.status is not AgentStatus.DELETE for v in a.versions)
            assert self.run(get_compilation_stats(self.deps, who, GetCompilationStats())) == compilation_stats(
                compiled=counted[CompilationStatus.COMPILED],
                draft=counted[CompilationStatus.DRAFT],
                failed=counted[CompilationStatus.FAILED],
            )
            for foreign in (a for a in self.model.values() if a.ref.org != org):
                self.refused(AgentNotFound, get_agent(self.deps, who, GetAgent(agent_id=foreign.ref.id)))

    @invariant()
    def every_successful_change_is_audited_once(self) -> None:
        for org in ORGS:
            events = self.run(agents_trail(self.deps, self.who(org, Role.OWNER)))
            changes = Counter(event.action for event in events if not event.action.startswith("token."))
            assert changes == +self.audit[org]  # the tokens the machine mints for its callers are audited too
            assert {event.org_id for event in events} <= {self.who(org, Role.OWNER).org_id}


# Why these settings suffice: a step is one use case, and the invariants re-read every agent's whole history
# through paged lists, so each example costs a few hundred use-case calls. 60 examples of up to 40 steps reach
# histories of several agents per organization with failed, compiled, activated, rolled-back and deleted
# versions (each rule is ~1/13 of the steps once agents and versions exist), in a few seconds on memory. Every
# example starts with a labelled version per organization, so moves, protections and deletions of labels (and their
# refusals) happen in most examples; replaying the label histories costs about a fifth of the run time. The
# interesting interleavings are short (create, add, compile, activate, delete: five steps), so depth beyond 40
# adds little that more examples would not, and the shrinker brings any failure back to a handful of steps.
Versioning.TestCase.settings = settings(max_examples=30, stateful_step_count=40, deadline=None)  # CI time
TestVersioning = Versioning.TestCase
